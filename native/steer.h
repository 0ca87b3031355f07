// eBPF steering program loading and TUNSETSTEERINGEBPF.
#pragma once

#include <napi.h>

namespace tapvs {

// Registers bpfLoadSocketFilter, tunSetSteering on `exports`.
void InitSteer(Napi::Env env, Napi::Object exports);

}  // namespace tapvs
