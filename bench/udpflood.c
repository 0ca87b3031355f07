/*
 * udpflood: a small, fast UDP traffic generator and sink for the tapvs benchmarks (not part of the product).
 *
 *   udpflood send DST_IP[,DST_IP...] DST_PORT SECONDS FLOWS PAYLOAD_BYTES [SRC_PORT_BASE]
 *       FLOWS connected UDP sockets (source ports SRC_PORT_BASE.. , default 20000..; flow f goes to destination
 *       f mod the number of destinations), sending as fast as the kernel takes them with sendmmsg() in batches
 *       of 64, round-robin over the flows, for SECONDS.
 *       Prints one JSON line: {"sent": N, "seconds": S, "pps": P}.
 *   udpflood sink PORT SECONDS
 *       Binds PORT and drains it with recvmmsg() for SECONDS. Prints {"received": N}.
 *   udpflood echo PORT SECONDS
 *       Binds PORT and sends every datagram back to its sender, for SECONDS. Prints {"echoed": N}.
 *   udpflood ping DST_IP DST_PORT COUNT INTERVAL_US [PAYLOAD_BYTES]
 *       Round-trip latency at low load: COUNT request/reply exchanges, one at a time, one every INTERVAL_US
 *       (a lost reply times out after 200 ms). Prints {"count", "received", "p50_us", "p90_us", "p99_us",
 *       "max_us", "mean_us"}.
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

static int do_send(char *dsts, int port, double secs, int flows, int payload, int sport_base) {
  if (flows < 1 || flows > 4096 || payload < 0 || payload > 1472) return 2;
  int *fds = calloc(flows, sizeof(int));
  struct sockaddr_in tos[16];
  int ndst = 0;
  for (char *d = strtok(dsts, ","); d && ndst < 16; d = strtok(NULL, ",")) {
    tos[ndst] = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, d, &tos[ndst].sin_addr) != 1) return 2;
    ndst++;
  }
  if (ndst == 0) return 2;
  for (int f = 0; f < flows; f++) {
    struct sockaddr_in to = tos[f % ndst];
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

static double now_us(void) { return now_s() * 1e6; }

static int do_echo(int port, double secs) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0) {
    perror("bind");
    return 1;
  }
  char buf[2048];
  unsigned long long n = 0;
  double end = now_s() + secs;
  struct pollfd p = {.fd = fd, .events = POLLIN};
  while (now_s() < end) {
    if (poll(&p, 1, 100) <= 0) continue;
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t len = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
    if (len >= 0 && sendto(fd, buf, (size_t)len, 0, (struct sockaddr *)&from, fl) == len) n++;
  }
  printf("{\"echoed\": %llu}\n", n);
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int do_ping(const char *dst, int port, int count, int interval_us, int payload) {
  if (count < 1 || count > 1000000 || payload < 8 || payload > 1472) return 2;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, dst, &to.sin_addr) != 1) return 2;
  if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
    perror("connect");
    return 1;
  }
  double *rtt = calloc(count, sizeof(double));
  char buf[1500], got[2048];
  memset(buf, 'p', sizeof buf);
  int received = 0;
  struct pollfd p = {.fd = fd, .events = POLLIN};
  double next = now_us();
  for (int i = 0; i < count; i++) {
    memcpy(buf, &i, sizeof i);
    double t0 = now_us();
    if (send(fd, buf, (size_t)payload, 0) != payload) continue;
    double deadline = t0 + 200e3;
    for (;;) {
      double left = deadline - now_us();
      if (left <= 0 || poll(&p, 1, (int)(left / 1000) + 1) <= 0) break;
      ssize_t len = recv(fd, got, sizeof got, MSG_DONTWAIT);
      int seq;
      if (len < (ssize_t)sizeof seq) continue; /* an ICMP error (ECONNREFUSED) or a short datagram */
      memcpy(&seq, got, sizeof seq);
      if (seq == i) {
        rtt[received++] = now_us() - t0;
        break;
      }
    }
    next += interval_us;
    double wait = next - now_us();
    if (wait > 0) usleep((useconds_t)wait);
  }
  double sum = 0;
  for (int i = 0; i < received; i++) sum += rtt[i];
  qsort(rtt, received, sizeof(double), cmp_double);
#define PCT(q) (received ? rtt[(int)((received - 1) * (q))] : 0)
  printf("{\"count\": %d, \"received\": %d, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f, "
         "\"mean_us\": %.1f}\n", count, received, PCT(0.5), PCT(0.9), PCT(0.99), PCT(1.0), received ? sum / received : 0);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 7 && !strcmp(argv[1], "send"))
    return do_send(argv[2], atoi(argv[3]), atof(argv[4]), atoi(argv[5]), atoi(argv[6]), argc > 7 ? atoi(argv[7]) : 20000);
  if (argc >= 4 && !strcmp(argv[1], "sink")) return do_sink(atoi(argv[2]), atof(argv[3]));
  if (argc >= 4 && !strcmp(argv[1], "echo")) return do_echo(atoi(argv[2]), atof(argv[3]));
  if (argc >= 6 && !strcmp(argv[1], "ping"))
    return do_ping(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), argc > 6 ? atoi(argv[6]) : 22);
  fprintf(stderr, "usage: udpflood send DST[,DST...] PORT SECONDS FLOWS PAYLOAD [SPORT_BASE] | sink PORT SECONDS | "
                  "echo PORT SECONDS | ping DST PORT COUNT INTERVAL_US [PAYLOAD]\n");
  return 2;
}
