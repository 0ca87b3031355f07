// Credentials of the peer of a Unix stream socket (the control API checks who connected).
#pragma once

#include <napi.h>

namespace tapvs {

// Registers peerCred on `exports`.
void InitPeerCred(Napi::Env env, Napi::Object exports);

}  // namespace tapvs
