// Batched frame I/O: one N-API call moves up to `max` frames with one read()/write() each.
// A TAP fd is not a socket (recvmmsg/sendmmsg fail with ENOTSOCK), and read()/write() on a bound AF_PACKET
// socket behave like recv()/send(), so plain read/write serves both kinds of fd without detection.
// All buffers are owned by the caller; nothing here allocates or keeps a pointer after returning.
#include "batch_io.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

#include "napi_util.h"

namespace tapvs {

static Napi::Value RecvBatch(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_ARG_INT32(0, fd, "fd");
  REQUIRE_ARG_ARRAYBUFFER(1, ring, ringLen, "ring");
  REQUIRE_ARG_INT32(2, slotSize, "slotSize");
  REQUIRE_ARG_INT32(3, headroom, "headroom");
  REQUIRE_ARG_INT32(4, max, "max");
  REQUIRE_ARG_INT32ARRAY(5, lens, lensCount, "lens");
  if (slotSize <= 0) THROW_RANGE("slotSize must be > 0");
  if (headroom < 0 || headroom >= slotSize) THROW_RANGE("headroom must be in 0..slotSize-1");
  if (max < 0) THROW_RANGE("max must be >= 0");
  if (static_cast<size_t>(max) * static_cast<size_t>(slotSize) > ringLen)
    THROW_RANGE("ring must hold max * slotSize bytes");
  if (static_cast<size_t>(max) > lensCount) THROW_RANGE("lens must have at least max elements");

  const size_t room = static_cast<size_t>(slotSize - headroom);
  int32_t n = 0;
  while (n < max) {
    ssize_t r = read(fd, ring + static_cast<size_t>(n) * slotSize + headroom, room);
    if (r <= 0) {
      // EAGAIN: queue drained. EINTR: let the caller come back. Other errors: report only if nothing was read.
      if (r < 0 && n == 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) RETURN_INT(-errno);
      break;
    }
    lens[n++] = static_cast<int32_t>(r);
  }
  RETURN_INT(n);
}

static Napi::Value SendBatch(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_ARG_INT32(0, fd, "fd");
  REQUIRE_ARG_ARRAYBUFFER(1, buf, bufLen, "buf");
  REQUIRE_ARG_INT32ARRAY(2, offs, offsCount, "offs");
  REQUIRE_ARG_INT32ARRAY(3, lens, lensCount, "lens");
  REQUIRE_ARG_INT32(4, count, "count");
  if (count < 0) THROW_RANGE("count must be >= 0");
  if (static_cast<size_t>(count) > offsCount) THROW_RANGE("offs must have at least count elements");
  if (static_cast<size_t>(count) > lensCount) THROW_RANGE("lens must have at least count elements");

  int32_t sent = 0;
  for (int32_t i = 0; i < count; i++) {
    const int32_t off = offs[i], len = lens[i];
    // Out-of-bounds or empty frames are skipped (not sent); never read outside buf.
    if (off < 0 || len <= 0 || static_cast<size_t>(off) + static_cast<size_t>(len) > bufLen) continue;
    ssize_t r = write(fd, buf + off, static_cast<size_t>(len));
    if (r < 0) {
      const int e = errno;
      if (sent == 0 && e != EAGAIN && e != EWOULDBLOCK && e != ENOBUFS && e != EINTR) RETURN_INT(-e);
      break;  // full queue (or a later error): the rest of the batch is not sent
    }
    sent++;
  }
  RETURN_INT(sent);
}

// Blocks the calling thread in poll(). Readiness errors on fd (POLLERR/POLLHUP, e.g. a detached TAP) are
// reported as "readable" so that the next recvBatch() returns the real errno; an invalid fd is -EBADF.
static Napi::Value WaitReadable(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_ARG_INT32(0, fd, "fd");
  REQUIRE_ARG_INT32(1, wakeFd, "wakeFd");
  REQUIRE_ARG_INT32(2, timeoutMs, "timeoutMs");
  struct pollfd p[2] = {{fd, POLLIN, 0}, {wakeFd, POLLIN, 0}};
  int r = poll(p, wakeFd >= 0 ? 2 : 1, timeoutMs);
  if (r < 0) RETURN_INT(errno == EINTR ? 0 : -errno);
  if ((p[0].revents | p[1].revents) & POLLNVAL) RETURN_INT(-EBADF);
  int mask = 0;
  if (p[0].revents & (POLLIN | POLLERR | POLLHUP)) mask |= 1;
  if (wakeFd >= 0 && (p[1].revents & POLLIN)) {
    uint64_t v;
    ssize_t ignored = read(wakeFd, &v, sizeof v);  // reset the eventfd counter; EAGAIN means a racing reader
    (void)ignored;
    mask |= 2;
  }
  RETURN_INT(mask);
}

static Napi::Value EventfdCreate(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  RETURN_INT(fd < 0 ? -errno : fd);
}

static Napi::Value EventfdSignal(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_ARG_INT32(0, fd, "fd");
  const uint64_t one = 1;
  if (write(fd, &one, sizeof one) < 0) RETURN_INT(-errno);
  RETURN_INT(0);
}

void InitBatchIo(Napi::Env env, Napi::Object exports) {
  EXPORT_FN(exports, RecvBatch, "recvBatch");
  EXPORT_FN(exports, SendBatch, "sendBatch");
  EXPORT_FN(exports, WaitReadable, "waitReadable");
  EXPORT_FN(exports, EventfdCreate, "eventfdCreate");
  EXPORT_FN(exports, EventfdSignal, "eventfdSignal");
}

}  // namespace tapvs
