/*
 * udpflood: a small, fast UDP traffic generator and sink for the tapvs benchmarks (not part of the product).
 *
 *   udpflood send DST_IP DST_PORT SECONDS FLOWS PAYLOAD_BYTES [SRC_PORT_BASE]
 *       FLOWS connected UDP sockets (source ports SRC_PORT_BASE.. , default 20000..), sending as fast as the
 *       kernel takes them with sendmmsg() in batches of 64, round-robin over the flows, for SECONDS.
 *       Prints one JSON line: {"sent": N, "seconds": S, "pps": P}.
 *   udpflood sink PORT SECONDS
 *       Binds PORT and drains it with recvmmsg() for SECONDS. Prints {"received": N}.
 *
 * Build: cc -O2 -o udpflood bench/udpflood.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int do_send(const char *dst, int port, double secs, int flows, int payload, int sport_base) {
  if (flows < 1 || flows > 4096 || payload < 0 || payload > 1472) return 2;
  int *fds = calloc(flows, sizeof(int));
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, dst, &to.sin_addr) != 1) return 2;
  for (int f = 0; f < flows; f++) {
    fds[f] = socket(AF_INET, SOCK_DGRAM, 0);
    int big = 4 << 20;
    setsockopt(fds[f], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(sport_base + f)};
    if (bind(fds[f], (struct sockaddr *)&me, sizeof me) < 0 || connect(fds[f], (struct sockaddr *)&to, sizeof to) < 0) {
      perror("socket");
      return 1;
    }
  }
  char buf[1500];
  memset(buf, 'x', sizeof buf);
  struct iovec iov = {.iov_base = buf, .iov_len = (size_t)payload};
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    msgs[i].msg_hdr.msg_iov = &iov;
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  unsigned long long sent = 0;
  double t0 = now_s(), end = t0 + secs, t = t0;
  int f = 0;
  while (t < end) {
    for (int k = 0; k < 16; k++) {
      int n = sendmmsg(fds[f], msgs, BATCH, MSG_DONTWAIT);
      if (n > 0) sent += n;
      if (++f == flows) f = 0;
    }
    t = now_s();
  }
  printf("{\"sent\": %llu, \"seconds\": %.3f, \"pps\": %.0f}\n", sent, t - t0, sent / (t - t0));
  return 0;
}

static int do_sink(int port, double secs) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int big = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0) {
    perror("bind");
    return 1;
  }
  static char bufs[BATCH][2048];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = sizeof bufs[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  unsigned long long got = 0;
  double end = now_s() + secs;
  struct pollfd p = {.fd = fd, .events = POLLIN};
  while (now_s() < end) {
    if (poll(&p, 1, 100) <= 0) continue;
    int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n > 0) got += n;
  }
  printf("{\"received\": %llu}\n", got);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 7 && !strcmp(argv[1], "send"))
    return do_send(argv[2], atoi(argv[3]), atof(argv[4]), atoi(argv[5]), atoi(argv[6]), argc > 7 ? atoi(argv[7]) : 20000);
  if (argc >= 4 && !strcmp(argv[1], "sink")) return do_sink(atoi(argv[2]), atof(argv[3]));
  fprintf(stderr, "usage: udpflood send DST PORT SECONDS FLOWS PAYLOAD [SPORT_BASE] | udpflood sink PORT SECONDS\n");
  return 2;
}
