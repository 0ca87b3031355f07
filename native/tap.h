// Opening TAP/TUN queues, AF_PACKET and raw IP sockets, TAP offload ioctls, interface look-ups.
#pragma once

#include <napi.h>

namespace tapvs {

// Registers openTap, closeFd, setOffload, setVnetHdrSize, ifIndex, ifMac, openPacket, openRawIp on `exports`.
void InitTap(Napi::Env env, Napi::Object exports);

}  // namespace tapvs
