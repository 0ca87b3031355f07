/*
 * synflood: sends TCP SYNs with spoofed source addresses from a raw socket, for the tapvs SYN flood test (run it
 * only inside a test's own client namespace, towards a VIP of that test bed). Not part of the product.
 *
 *   synflood DST_IP DST_PORT SECONDS PPS SRC_NET SRC_BITS [SEED]
 *       For SECONDS, at most PPS SYNs per second (paced in batches of 32 with sendmmsg) to DST_IP:DST_PORT, each
 *       from a random address in SRC_NET/(32 - SRC_BITS) (its low SRC_BITS bits random), a random port >= 1024
 *       and a random sequence number, with an MSS option. Prints one JSON line: {"sent": N, "seconds": S, "pps": P}.
 *
 * Build: cc -O2 -o synflood test/helpers/synflood.c     (needs CAP_NET_RAW)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32
#define PKT_LEN 44 /* IPv4 20 + TCP 20 + MSS option 4 */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint32_t rng = 2463534242u;
static uint32_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

static uint16_t csum(const uint8_t *p, int len, uint32_t sum) {
  for (int i = 0; i + 1 < len; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += (uint32_t)p[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static void build(uint8_t *b, uint32_t src, uint32_t dst, uint16_t dport) {
  memset(b, 0, PKT_LEN);
  b[0] = 0x45;
  b[2] = 0;
  b[3] = PKT_LEN;
  b[6] = 0x40; /* DF */
  b[8] = 64;
  b[9] = IPPROTO_TCP;
  uint32_t s = htonl(src), d = htonl(dst);
  memcpy(b + 12, &s, 4);
  memcpy(b + 16, &d, 4);
  uint8_t *t = b + 20;
  uint16_t sport = (uint16_t)(1024 + next_rand() % 64000);
  t[0] = sport >> 8;
  t[1] = sport & 0xff;
  t[2] = dport >> 8;
  t[3] = dport & 0xff;
  uint32_t seq = htonl(next_rand());
  memcpy(t + 4, &seq, 4);
  t[12] = 6 << 4; /* 24-byte header */
  t[13] = 0x02;   /* SYN */
  t[14] = 0xfa;
  t[15] = 0xf0;
  t[20] = 2; /* MSS 1460 */
  t[21] = 4;
  t[22] = 0x05;
  t[23] = 0xb4;
  uint32_t ph = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + IPPROTO_TCP + 24;
  uint16_t c = csum(t, 24, ph);
  t[16] = c >> 8;
  t[17] = c & 0xff;
  /* The kernel fills in the IP checksum (and the ID when 0) for IP_HDRINCL sockets. */
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: synflood DST_IP DST_PORT SECONDS PPS SRC_NET SRC_BITS [SEED]\n");
    return 2;
  }
  struct in_addr dst_a, net_a;
  if (inet_pton(AF_INET, argv[1], &dst_a) != 1 || inet_pton(AF_INET, argv[5], &net_a) != 1) return 2;
  int dport = atoi(argv[2]);
  double secs = atof(argv[3]);
  double pps = atof(argv[4]);
  int bits = atoi(argv[6]);
  if (argc > 7) rng = (uint32_t)strtoul(argv[7], NULL, 10) | 1;
  if (dport <= 0 || dport > 65535 || secs <= 0 || secs > 600 || pps <= 0 || pps > 1e7 || bits < 1 || bits > 24) return 2;
  uint32_t dst = ntohl(dst_a.s_addr), net = ntohl(net_a.s_addr) & ~((1u << bits) - 1);
  int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  if (fd < 0) {
    perror("socket");
    return 1;
  }
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr = dst_a};
  static uint8_t pkts[BATCH][PKT_LEN];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = pkts[i];
    iov[i].iov_len = PKT_LEN;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &to;
    msgs[i].msg_hdr.msg_namelen = sizeof to;
  }
  unsigned long long sent = 0;
  double t0 = now_s(), end = t0 + secs, t = t0;
  while (t < end) {
    /* Pace: no more than pps * elapsed packets so far. */
    if ((double)sent > (t - t0) * pps) {
      struct timespec ts = {0, (long)(BATCH / pps * 1e9 / 2)};
      nanosleep(&ts, NULL);
      t = now_s();
      continue;
    }
    for (int i = 0; i < BATCH; i++) build(pkts[i], net | (next_rand() & ((1u << bits) - 1)), dst, (uint16_t)dport);
    int n = sendmmsg(fd, msgs, BATCH, 0);
    if (n > 0) sent += (unsigned long long)n;
    t = now_s();
  }
  double el = now_s() - t0;
  printf("{\"sent\": %llu, \"seconds\": %.3f, \"pps\": %.0f}\n", sent, el, sent / el);
  return 0;
}
