// Opening TAP queues and AF_PACKET sockets, TAP offload ioctls, interface look-ups.
#pragma once

#include <napi.h>

namespace tapvs {

// Registers openTap, closeFd, setOffload, setVnetHdrSize, ifIndex, ifMac, openPacket on `exports`.
void InitTap(Napi::Env env, Napi::Object exports);

}  // namespace tapvs
