// TAP/TUN queues (/dev/net/tun), AF_PACKET and raw IP sockets, offload ioctls and interface look-ups.
// Every function returns a value >= 0 on success or -errno; only wrong argument types throw.
#include "tap.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "napi_util.h"

namespace tapvs {

// Flag bits of openTap(), as seen from JS.
static constexpr int32_t kMultiQueue = 1;
static constexpr int32_t kVnetHdr = 2;
static constexpr int32_t kTun = 4;  // IFF_TUN (L3, bare IP packets) instead of IFF_TAP

// Interface names are < IFNAMSIZ bytes; a longer or NUL-containing name is EINVAL (never truncated).
static bool ValidIfName(const char* name, size_t len) {
  return len < IFNAMSIZ && strlen(name) == len;
}

static Napi::Value OpenTap(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_ARG_STRING(0, name, 64, "name");
  REQUIRE_ARG_INT32(1, flags, "flags");
  if (flags & ~(kMultiQueue | kVnetHdr | kTun))
    THROW_RANGE("flags must be a combination of 1 (multi-queue), 2 (vnet header) and 4 (tun)");
  if (!ValidIfName(name, name_len)) RETURN_INT(-EINVAL);

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) RETURN_INT(-errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, name_len);
  ifr.ifr_flags = ((flags & kTun) ? IFF_TUN : IFF_TAP) | IFF_NO_PI;
  if (flags & kMultiQueue) ifr.ifr_flags |= IFF_MULTI_QUEUE;
  if (flags & kVnetHdr) ifr.ifr_flags |= IFF_VNET_HDR;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    RETURN_INT(-e);
  }
  RETURN_INT(fd);
}

static Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_ARG_INT32(0, fd, "fd");
  // On Linux the fd is released even when close() reports EINTR, so that is success.
  if (close(fd) < 0 && errno != EINTR) RETURN_INT(-errno);
  RETURN_INT(0);
}

static Napi::Value SetOffload(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_ARG_INT32(0, fd, "fd");
  REQUIRE_ARG_UINT32(1, flags, "flags");
  if (ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(flags)) < 0) RETURN_INT(-errno);
  RETURN_INT(0);
}

static Napi::Value SetVnetHdrSize(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_ARG_INT32(0, fd, "fd");
  REQUIRE_ARG_INT32(1, size, "size");
  int sz = size;
  if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) RETURN_INT(-errno);
  RETURN_INT(0);
}

static Napi::Value IfIndex(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_ARG_STRING(0, name, 64, "name");
  if (!ValidIfName(name, name_len)) RETURN_INT(-ENODEV);
  unsigned idx = if_nametoindex(name);
  if (idx == 0) RETURN_INT(errno ? -errno : -ENODEV);
  RETURN_INT(idx);
}

static Napi::Value IfMac(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_ARG_STRING(0, name, 64, "name");
  char out[18] = "";
  if (ValidIfName(name, name_len)) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, name, name_len);
    if (s >= 0 && ioctl(s, SIOCGIFHWADDR, &ifr) == 0) {
      const unsigned char* m = reinterpret_cast<const unsigned char*>(ifr.ifr_hwaddr.sa_data);
      snprintf(out, sizeof out, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    }
    if (s >= 0) close(s);
  }
  return Napi::String::New(env, out);
}

// AF_PACKET raw socket bound to one interface. It is created with protocol 0 (receives nothing) and only
// starts receiving at bind(), so no frame from another interface can slip in. PACKET_IGNORE_OUTGOING keeps
// frames the host itself transmits on the interface out of the receive queue, which makes the socket see what
// a TAP fd sees: the "wire" side only. PACKET_QDISC_BYPASS makes writes go straight to the driver.
static Napi::Value OpenPacket(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_ARG_STRING(0, name, 64, "ifname");
  if (!ValidIfName(name, name_len)) RETURN_INT(-ENODEV);
  unsigned idx = if_nametoindex(name);
  if (idx == 0) RETURN_INT(errno ? -errno : -ENODEV);
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) RETURN_INT(-errno);
  int one = 1;
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = static_cast<int>(idx);
  if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0 ||
      setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0 ||
      bind(fd, reinterpret_cast<struct sockaddr*>(&sll), sizeof sll) < 0) {
    int e = errno;
    close(fd);
    RETURN_INT(-e);
  }
  RETURN_INT(fd);
}

// Raw IPv4 socket for one IP protocol (e.g. 4, IPIP): reads return whole datagrams addressed to this host,
// outer IP header included, after reassembly. The kernel delivers them whether or not it has a handler for
// the protocol (a raw socket that took the packet also keeps it from answering "protocol unreachable").
static Napi::Value OpenRawIp(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  REQUIRE_ARG_INT32(0, proto, "proto");
  if (proto < 1 || proto > 254) THROW_RANGE("proto must be in 1..254");
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) RETURN_INT(-errno);
  RETURN_INT(fd);
}

void InitTap(Napi::Env env, Napi::Object exports) {
  EXPORT_FN(exports, OpenTap, "openTap");
  EXPORT_FN(exports, CloseFd, "closeFd");
  EXPORT_FN(exports, SetOffload, "setOffload");
  EXPORT_FN(exports, SetVnetHdrSize, "setVnetHdrSize");
  EXPORT_FN(exports, IfIndex, "ifIndex");
  EXPORT_FN(exports, IfMac, "ifMac");
  EXPORT_FN(exports, OpenPacket, "openPacket");
  EXPORT_FN(exports, OpenRawIp, "openRawIp");
}

}  // namespace tapvs
