// Multi-queue steering: load an eBPF socket-filter program (bytes built in TypeScript: src/io/steering.ts) and
// attach it to a TAP device with TUNSETSTEERINGEBPF. The program's return value modulo the number of queues
// picks the queue of every frame the kernel sends into the TAP. Policy is all in the generated program.
#include "steer.h"

#include <linux/bpf.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "napi_util.h"

namespace tapvs {

// bpfLoadSocketFilter(insns, log) → prog fd or -errno. `log` (a Uint8Array, may be empty) receives the
// verifier's message, NUL-terminated, when loading fails.
static Napi::Value BpfLoadSocketFilter(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_ARG_BYTES(0, insns, insnsLen, "insns");
  REQUIRE_ARG_BYTES(1, log, logLen, "log");
  if (insnsLen == 0 || insnsLen % 8 != 0) THROW_RANGE("insns must hold a whole number of 8-byte instructions");
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  static const char kLicense[] = "MIT";
  attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  attr.insn_cnt = static_cast<uint32_t>(insnsLen / 8);
  attr.insns = reinterpret_cast<uint64_t>(insns);
  attr.license = reinterpret_cast<uint64_t>(kLicense);
  if (logLen > 1) {
    attr.log_buf = reinterpret_cast<uint64_t>(log);
    attr.log_size = static_cast<uint32_t>(logLen);
    attr.log_level = 1;
    log[0] = 0;
  }
  int fd = static_cast<int>(syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof attr));
  if (fd < 0) RETURN_INT(-errno);
  RETURN_INT(fd);
}

// tunSetSteering(fd, progFd) → 0 or -errno. progFd -1 detaches the program (back to the kernel's choice).
static Napi::Value TunSetSteering(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_ARG_INT32(0, fd, "fd");
  REQUIRE_ARG_INT32(1, progFd, "progFd");
  int prog = progFd;
  if (ioctl(fd, TUNSETSTEERINGEBPF, &prog) < 0) RETURN_INT(-errno);
  RETURN_INT(0);
}

void InitSteer(Napi::Env env, Napi::Object exports) {
  EXPORT_FN(exports, BpfLoadSocketFilter, "bpfLoadSocketFilter");
  EXPORT_FN(exports, TunSetSteering, "tunSetSteering");
}

}  // namespace tapvs
