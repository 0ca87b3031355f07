// Batched frame I/O on a non-blocking fd (TAP queue or bound AF_PACKET socket) into caller-owned buffers,
// plus the blocking wait and the eventfd used to wake a sleeping worker.
#pragma once

#include <napi.h>

namespace tapvs {

// Registers recvBatch, sendBatch, waitReadable, eventfdCreate, eventfdSignal on `exports`.
void InitBatchIo(Napi::Env env, Napi::Object exports);

}  // namespace tapvs
