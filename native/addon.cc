// Module init only. Node-API modules are initialised once per thread that loads them (main thread and each
// worker_thread); the addon keeps no process-global mutable state, so that is safe.
#include <napi.h>

#include "batch_io.h"
#include "checksum.h"
#include "peercred.h"
#include "steer.h"
#include "tap.h"
#include "uring.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  tapvs::InitTap(env, exports);
  tapvs::InitBatchIo(env, exports);
  tapvs::InitChecksum(env, exports);
  tapvs::InitSteer(env, exports);
  tapvs::InitUring(env, exports);
  tapvs::InitPeerCred(env, exports);
  return exports;
}

NODE_API_MODULE(tapvs, Init)
