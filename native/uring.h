// io_uring batched frame exchange (see uring.cc): one syscall sends a tx batch and reads an rx batch.
#pragma once

#include <napi.h>

namespace tapvs {

// Registers uringCreate, uringDestroy, uringExchange on `exports`.
void InitUring(Napi::Env env, Napi::Object exports);

}  // namespace tapvs
