// Internet checksum helpers: RFC 1071 full sum and RFC 1624 (eqn. 3) incremental update.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace tapvs {

// One's-complement sum of `len` bytes as big-endian 16-bit words (odd tail padded with zero), plus `initial`,
// folded to 16 bits, not complemented.
uint16_t Sum16(const uint8_t* p, size_t len, uint32_t initial);

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for a 16-bit or 32-bit field. Returns `check` unchanged when the
// field did not change (RFC 1624 errata 4782).
uint16_t CsumUpdate(uint16_t check, uint32_t oldValue, uint32_t newValue, int bits);

// Registers checksum and checksumUpdate on `exports`.
void InitChecksum(Napi::Env env, Napi::Object exports);

}  // namespace tapvs
