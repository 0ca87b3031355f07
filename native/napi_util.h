// Argument checking for the exported functions. Every REQUIRE_ARG_* macro expects `info` (the CallbackInfo)
// and `env` (napi_env) in scope, declares `var`, and on a wrong type throws a TypeError that names the argument
// ("fd must be an integer") and returns. Bounds violations use THROW_RANGE. Nothing else in the addon throws:
// syscall failures are returned as negative errno values.
#pragma once

#include <napi.h>

#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace tapvs {

inline Napi::Value ThrowType(napi_env env, const char* msg) {
  napi_throw_type_error(env, nullptr, msg);
  return Napi::Value();
}

inline Napi::Value ThrowRange(napi_env env, const char* msg) {
  napi_throw_range_error(env, nullptr, msg);
  return Napi::Value();
}

// A JS number that is an integer in [lo, hi] (NaN, fractions, non-numbers fail).
inline bool ToInt(napi_env env, napi_value v, double lo, double hi, double* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (!(d >= lo && d <= hi) || d != std::trunc(d)) return false;
  *out = d;
  return true;
}

// ArrayBuffer, TypedArray or DataView → data pointer (view offset applied) and byte length.
inline bool ToBytes(napi_env env, napi_value v, uint8_t** data, size_t* len, bool viewsAllowed) {
  bool is = false;
  void* p = nullptr;
  if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
    if (napi_get_arraybuffer_info(env, v, &p, len) != napi_ok) return false;
    *data = static_cast<uint8_t*>(p);
    return true;
  }
  if (!viewsAllowed) return false;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t count;
    if (napi_get_typedarray_info(env, v, &type, &count, &p, nullptr, nullptr) != napi_ok) return false;
    static const size_t kSize[] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8};  // napi_typedarray_type order
    *data = static_cast<uint8_t*>(p);
    *len = count * (static_cast<size_t>(type) < 11 ? kSize[type] : 1);
    return true;
  }
  if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    if (napi_get_dataview_info(env, v, len, &p, nullptr, nullptr) != napi_ok) return false;
    *data = static_cast<uint8_t*>(p);
    return true;
  }
  return false;
}

inline bool ToInt32Array(napi_env env, napi_value v, int32_t** data, size_t* count) {
  bool is = false;
  napi_typedarray_type type;
  void* p = nullptr;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  if (napi_get_typedarray_info(env, v, &type, count, &p, nullptr, nullptr) != napi_ok) return false;
  if (type != napi_int32_array) return false;
  *data = static_cast<int32_t*>(p);
  return true;
}

}  // namespace tapvs

#define THROW_RANGE(msg) return ::tapvs::ThrowRange(env, msg)

#define REQUIRE_ARG_INT32(i, var, name)                                                  \
  int32_t var;                                                                           \
  {                                                                                      \
    double d_;                                                                           \
    if (!::tapvs::ToInt(env, info[i], -2147483648.0, 2147483647.0, &d_))                 \
      return ::tapvs::ThrowType(env, name " must be an integer");                        \
    var = static_cast<int32_t>(d_);                                                      \
  }

#define REQUIRE_ARG_UINT32(i, var, name)                                                 \
  uint32_t var;                                                                          \
  {                                                                                      \
    double d_;                                                                           \
    if (!::tapvs::ToInt(env, info[i], 0.0, 4294967295.0, &d_))                           \
      return ::tapvs::ThrowType(env, name " must be an unsigned 32-bit integer");        \
    var = static_cast<uint32_t>(d_);                                                     \
  }

// Copies a string into `char var[size]`; var##_len is its UTF-8 length, truncated to size - 1.
#define REQUIRE_ARG_STRING(i, var, size, name)                                           \
  char var[size];                                                                        \
  size_t var##_len = 0;                                                                  \
  if (napi_get_value_string_utf8(env, info[i], var, size, &var##_len) != napi_ok)        \
    return ::tapvs::ThrowType(env, name " must be a string");

#define REQUIRE_ARG_ARRAYBUFFER(i, var, lenvar, name)                                    \
  uint8_t* var = nullptr;                                                                \
  size_t lenvar = 0;                                                                     \
  if (!::tapvs::ToBytes(env, info[i], &var, &lenvar, false))                             \
    return ::tapvs::ThrowType(env, name " must be an ArrayBuffer");

#define REQUIRE_ARG_BYTES(i, var, lenvar, name)                                          \
  uint8_t* var = nullptr;                                                                \
  size_t lenvar = 0;                                                                     \
  if (!::tapvs::ToBytes(env, info[i], &var, &lenvar, true))                              \
    return ::tapvs::ThrowType(env, name " must be an ArrayBuffer or ArrayBufferView");

#define REQUIRE_ARG_INT32ARRAY(i, var, countvar, name)                                   \
  int32_t* var = nullptr;                                                                \
  size_t countvar = 0;                                                                   \
  if (!::tapvs::ToInt32Array(env, info[i], &var, &countvar))                             \
    return ::tapvs::ThrowType(env, name " must be an Int32Array");

// Return a number (a count, an fd, or a negative errno).
#define RETURN_INT(v)                                                                    \
  do {                                                                                   \
    napi_value r_;                                                                       \
    napi_create_int32(env, static_cast<int32_t>(v), &r_);                                \
    return Napi::Value(env, r_);                                                         \
  } while (0)

#define EXPORT_FN(exports, fn, name) (exports).Set(name, Napi::Function::New<fn>(env, name))
