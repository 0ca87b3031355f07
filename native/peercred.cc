// peerCred(fd): getsockopt(SO_PEERCRED) on a connected Unix socket — the pid, uid and gid the peer had when it
// connected (kernel-checked, not claimed by the peer). Returns {pid, uid, gid}, or a negative errno.
#include "peercred.h"

#include <sys/socket.h>

#include <cerrno>

#include "napi_util.h"

namespace tapvs {

static Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_ARG_INT32(0, fd, "fd");
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) RETURN_INT(-errno);
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

void InitPeerCred(Napi::Env env, Napi::Object exports) {
  EXPORT_FN(exports, PeerCred, "peerCred");
}

}  // namespace tapvs
