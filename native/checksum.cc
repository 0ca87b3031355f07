// Internet checksum (RFC 1071) and its incremental update (RFC 1624 eqn. 3).
#include "checksum.h"

#include <cstring>

#include "napi_util.h"

namespace tapvs {

// 64-bit add with end-around carry: 2^64 ≡ 1 (mod 0xFFFF), so the folded result is unchanged.
static inline uint64_t AddC(uint64_t s, uint64_t v) {
  s += v;
  return s + (s < v);
}

static inline uint32_t Fold(uint64_t s) {
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return static_cast<uint32_t>(s);
}

// The one's-complement sum is byte-order independent (RFC 1071 §2(B)): sum native-endian words with wide
// loads, fold, and swap the two bytes at the end on a little-endian host. Bytes keep their parity because all
// wide loads are multiples of 2 bytes, so the odd tail byte lands in the high half of a big-endian word.
uint16_t Sum16(const uint8_t* p, size_t len, uint32_t initial) {
  uint64_t s = 0, a, b, c, d;
  for (; len >= 32; p += 32, len -= 32) {
    memcpy(&a, p, 8);
    memcpy(&b, p + 8, 8);
    memcpy(&c, p + 16, 8);
    memcpy(&d, p + 24, 8);
    s = AddC(AddC(AddC(AddC(s, a), b), c), d);
  }
  for (; len >= 8; p += 8, len -= 8) {
    memcpy(&a, p, 8);
    s = AddC(s, a);
  }
  if (len >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    s = AddC(s, w);
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    s = AddC(s, w);
    p += 2;
    len -= 2;
  }
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (len) s = AddC(s, p[0]);
  uint32_t f = Fold(s);
  f = ((f & 0xff) << 8) | (f >> 8);
#else
  if (len) s = AddC(s, static_cast<uint64_t>(p[0]) << 8);
  uint32_t f = Fold(s);
#endif
  return static_cast<uint16_t>(Fold(static_cast<uint64_t>(f) + initial));
}

uint16_t CsumUpdate(uint16_t check, uint32_t oldValue, uint32_t newValue, int bits) {
  if (oldValue == newValue) return check;
  uint64_t s = static_cast<uint16_t>(~check);
  if (bits == 32) {
    const uint32_t m = ~oldValue;
    s += (m >> 16) + (m & 0xffff) + (newValue >> 16) + (newValue & 0xffff);
  } else {
    s += static_cast<uint16_t>(~oldValue) + (newValue & 0xffff);
  }
  return static_cast<uint16_t>(~Fold(s));
}

static Napi::Value Checksum(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_ARG_BYTES(0, buf, bufLen, "buf");
  REQUIRE_ARG_INT32(1, offset, "offset");
  REQUIRE_ARG_INT32(2, length, "length");
  REQUIRE_ARG_UINT32(3, initial, "initial");
  if (offset < 0 || static_cast<size_t>(offset) > bufLen) THROW_RANGE("offset must be in 0..buf.byteLength");
  if (length < 0 || static_cast<size_t>(length) > bufLen - offset)
    THROW_RANGE("length must be in 0..buf.byteLength - offset");
  RETURN_INT(Sum16(buf + offset, static_cast<size_t>(length), initial));
}

static Napi::Value ChecksumUpdate(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_ARG_UINT32(0, check, "check");
  REQUIRE_ARG_UINT32(1, oldValue, "oldValue");
  REQUIRE_ARG_UINT32(2, newValue, "newValue");
  REQUIRE_ARG_INT32(3, bits, "bits");
  if (bits != 16 && bits != 32) THROW_RANGE("bits must be 16 or 32");
  if (check > 0xffff) THROW_RANGE("check must be in 0..65535");
  if (bits == 16 && oldValue > 0xffff) THROW_RANGE("oldValue must be in 0..65535 when bits is 16");
  if (bits == 16 && newValue > 0xffff) THROW_RANGE("newValue must be in 0..65535 when bits is 16");
  RETURN_INT(CsumUpdate(static_cast<uint16_t>(check), oldValue, newValue, bits));
}

void InitChecksum(Napi::Env env, Napi::Object exports) {
  EXPORT_FN(exports, Checksum, "checksum");
  EXPORT_FN(exports, ChecksumUpdate, "checksumUpdate");
}

}  // namespace tapvs
