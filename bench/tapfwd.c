/*
 * tapfwd: the floor of a TAP load balancer, for the tapvs benchmarks (not part of the product).
 *
 * It does exactly the I/O a naive TAP balancer does: one blocking read() per frame from a TAP queue and one
 * write() per frame back to it, one thread per queue, no batching, no offloads. Per frame it does only what
 * forwarding needs, as tapvs does on its TAP: it is an L2 host on the segment (answers ARP for its addresses
 * with its own MAC), and routes IPv4 by destination address to a static neighbour (MACs rewritten, TTL - 1,
 * incremental IP checksum). Optionally a stateless NAT in front of that ("services"): a packet to VIP[:PORT]
 * goes to one of the service's reals chosen by a hash of (client address, client port), destination address
 * rewritten with incremental IP and TCP/UDP checksum updates; a packet from a real's service port gets the VIP
 * back as its source. No connection table, no scheduler state, no checksum verification.
 *
 *   tapfwd -i TAP [-q QUEUES] -m MAC -a IP [-a IP ...] -n IP=MAC [-n ...] [-s VIP[:PORT]=RIP[,RIP...] ...]
 *     -i  TAP device (persistent, created multi_queue: `ip tuntap add NAME mode tap multi_queue`)
 *     -q  queues = threads (default 1; IFF_MULTI_QUEUE: the kernel spreads flows over the queues)
 *     -m  this host's MAC on the segment
 *     -a  an address it answers ARP for (its own addresses and the VIPs)
 *     -n  a static neighbour: the MAC that frames to IP are sent to (no ARP resolution)
 *     -s  a service: VIP (any port, or PORT only) to RIP,RIP,... (the real keeps the port)
 * Runs until SIGINT/SIGTERM, then prints one JSON line of counters on stdout.
 *
 * Build: cc -O2 -pthread -o tapfwd bench/tapfwd.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MAX_QUEUES 16
#define MAX_ADDRS 16
#define MAX_NB 16
#define MAX_SVC 8
#define MAX_REALS 16

struct nb { uint32_t ip; uint8_t mac[6]; };
struct svc { uint32_t vip; uint16_t port; int nreals; uint32_t reals[MAX_REALS]; };
struct counters { unsigned long long rx, tx, arp_replies, dropped, write_errors; };

static uint8_t my_mac[6];
static uint32_t addrs[MAX_ADDRS];
static int naddrs;
static struct nb nbs[MAX_NB];
static int nnb;
static struct svc svcs[MAX_SVC];
static int nsvc;
static struct counters ctr[MAX_QUEUES];
static int fds[MAX_QUEUES];

static int parse_mac(const char *s, uint8_t *mac) {
  unsigned m[6];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6) return -1;
  for (int i = 0; i < 6; i++) mac[i] = (uint8_t)m[i];
  return 0;
}

static uint32_t parse_ip(const char *s) {
  struct in_addr a;
  if (inet_pton(AF_INET, s, &a) != 1) {
    fprintf(stderr, "tapfwd: bad IPv4 address: %s\n", s);
    exit(2);
  }
  return a.s_addr; /* network order */
}

/* RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), for a 32-bit field; all values in host order. */
static uint16_t csum_update32(uint16_t check, uint32_t old, uint32_t now) {
  uint32_t s = (uint16_t)~check;
  s += (uint16_t)~(old >> 16) + (uint16_t)~(old & 0xffff) + (now >> 16) + (now & 0xffff);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

static uint16_t csum_update16(uint16_t check, uint16_t old, uint16_t now) {
  uint32_t s = (uint16_t)~check + (uint16_t)~old + now;
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static uint32_t get32n(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void put32n(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static int is_mine(uint32_t ip) {
  for (int i = 0; i < naddrs; i++)
    if (addrs[i] == ip) return 1;
  return 0;
}

static const struct nb *neighbour(uint32_t ip) {
  for (int i = 0; i < nnb; i++)
    if (nbs[i].ip == ip) return &nbs[i];
  return NULL;
}

/* Rewrites an IPv4 address field at ip[off] (12 = source, 16 = destination) with IP and L4 checksum updates. */
static void rewrite_addr(uint8_t *ip, int len, int off, uint32_t now_n) {
  uint32_t old = ntohl(get32n(ip + off)), now = ntohl(now_n);
  uint8_t *l4 = ip + 20;
  put16(ip + 10, csum_update32(get16(ip + 10), old, now));
  if (ip[9] == 6 && len >= 40) {
    put16(l4 + 16, csum_update32(get16(l4 + 16), old, now));
  } else if (ip[9] == 17 && len >= 28 && get16(l4 + 6) != 0) {
    uint16_t c = csum_update32(get16(l4 + 6), old, now);
    put16(l4 + 6, c ? c : 0xffff); /* a computed 0 is sent as 0xffff (RFC 768) */
  }
  put32n(ip + off, now_n);
}

/* Stateless NAT: to a VIP -> a real by hash of (client, client port); from a real's service port -> the VIP. */
static void nat(uint8_t *ip, int len) {
  if (nsvc == 0 || len < 24 || (ip[9] != 6 && ip[9] != 17)) return;
  uint32_t s = get32n(ip + 12), d = get32n(ip + 16);
  uint16_t sport = get16(ip + 20), dport = get16(ip + 22);
  for (int i = 0; i < nsvc; i++) {
    const struct svc *v = &svcs[i];
    if (d == v->vip && (v->port == 0 || v->port == dport)) {
      uint32_t h = (ntohl(s) ^ (uint32_t)sport * 2654435761u) * 2246822519u;
      rewrite_addr(ip, len, 16, v->reals[(h >> 16) % (uint32_t)v->nreals]);
      return;
    }
    if (v->port == 0 || v->port == sport)
      for (int r = 0; r < v->nreals; r++)
        if (s == v->reals[r]) {
          rewrite_addr(ip, len, 12, v->vip);
          return;
        }
  }
}

/* Handles one frame in place; returns the length to write back, or 0 to drop it. */
static int handle(uint8_t *f, int n, struct counters *c) {
  if (n < 14) return 0;
  uint16_t type = get16(f + 12);
  if (type == 0x0806) { /* ARP request for one of ours -> reply from our MAC */
    uint8_t *a = f + 14, sha[6], spa[4], tpa[4];
    if (n < 42 || get16(a + 6) != 1 || !is_mine(get32n(a + 24))) return 0;
    memcpy(sha, a + 8, 6);
    memcpy(spa, a + 14, 4);
    memcpy(tpa, a + 24, 4);
    put16(a + 6, 2);
    memcpy(a + 8, my_mac, 6);
    memcpy(a + 14, tpa, 4);
    memcpy(a + 18, sha, 6);
    memcpy(a + 24, spa, 4);
    memcpy(f, sha, 6);
    memcpy(f + 6, my_mac, 6);
    c->arp_replies++;
    return n;
  }
  if (type != 0x0800 || n < 34) return 0;
  if (memcmp(f, my_mac, 6) != 0) return 0; /* flooded by the bridge, not for us */
  uint8_t *ip = f + 14;
  if (ip[0] != 0x45 || ip[8] <= 1) return 0;
  int iplen = get16(ip + 2);
  if (iplen > n - 14) return 0;
  nat(ip, iplen);
  const struct nb *to = neighbour(get32n(ip + 16));
  if (!to) return 0;
  /* TTL - 1 with an incremental update of the header checksum (TTL is the high byte of the word at 8) */
  uint16_t ttl_proto = get16(ip + 8);
  ip[8]--;
  put16(ip + 10, csum_update16(get16(ip + 10), ttl_proto, get16(ip + 8)));
  memcpy(f, to->mac, 6);
  memcpy(f + 6, my_mac, 6);
  return n;
}

static void *run_queue(void *arg) {
  int q = (int)(intptr_t)arg;
  struct counters *c = &ctr[q];
  uint8_t buf[65536 + 64];
  for (;;) {
    ssize_t n = read(fds[q], buf, sizeof buf);
    if (n <= 0) {
      if (n < 0 && errno != EINTR && errno != EAGAIN) {
        perror("tapfwd: read");
        exit(1);
      }
      continue;
    }
    c->rx++;
    int out = handle(buf, (int)n, c);
    if (!out) {
      c->dropped++;
      continue;
    }
    if (write(fds[q], buf, (size_t)out) == out) c->tx++;
    else c->write_errors++;
  }
  return NULL;
}

static int open_queue(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void add_service(char *spec) {
  char *eq = strchr(spec, '=');
  if (!eq || nsvc == MAX_SVC) { fprintf(stderr, "tapfwd: bad service: %s\n", spec); exit(2); }
  *eq = 0;
  struct svc *v = &svcs[nsvc++];
  char *colon = strchr(spec, ':');
  if (colon) { *colon = 0; v->port = (uint16_t)atoi(colon + 1); }
  v->vip = parse_ip(spec);
  for (char *r = strtok(eq + 1, ","); r && v->nreals < MAX_REALS; r = strtok(NULL, ",")) v->reals[v->nreals++] = parse_ip(r);
  if (v->nreals == 0) { fprintf(stderr, "tapfwd: service without reals\n"); exit(2); }
}

int main(int argc, char **argv) {
  const char *tap = NULL;
  int queues = 1, opt, have_mac = 0;
  while ((opt = getopt(argc, argv, "i:q:m:a:n:s:")) != -1) {
    switch (opt) {
      case 'i': tap = optarg; break;
      case 'q': queues = atoi(optarg); break;
      case 'm': have_mac = parse_mac(optarg, my_mac) == 0; break;
      case 'a': if (naddrs < MAX_ADDRS) addrs[naddrs++] = parse_ip(optarg); break;
      case 'n': {
        char *eq = strchr(optarg, '=');
        if (!eq || nnb == MAX_NB) { fprintf(stderr, "tapfwd: bad neighbour: %s\n", optarg); return 2; }
        *eq = 0;
        nbs[nnb].ip = parse_ip(optarg);
        if (parse_mac(eq + 1, nbs[nnb].mac)) { fprintf(stderr, "tapfwd: bad MAC: %s\n", eq + 1); return 2; }
        nnb++;
        break;
      }
      case 's': add_service(optarg); break;
      default: goto usage;
    }
  }
  if (!tap || !have_mac || queues < 1 || queues > MAX_QUEUES) goto usage;

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* the queue threads inherit the mask; main waits for the signal */
  for (int q = 0; q < queues; q++) {
    fds[q] = open_queue(tap);
    if (fds[q] < 0) { fprintf(stderr, "tapfwd: open %s queue %d: %s\n", tap, q, strerror(errno)); return 1; }
  }
  for (int q = 0; q < queues; q++) {
    pthread_t t;
    pthread_create(&t, NULL, run_queue, (void *)(intptr_t)q);
  }
  fprintf(stderr, "tapfwd running: %s, %d queue(s)\n", tap, queues);
  int sig;
  sigwait(&set, &sig);
  struct counters t = {0};
  printf("{\"queues\": [");
  for (int q = 0; q < queues; q++) {
    struct counters *c = &ctr[q];
    printf("%s{\"rx\": %llu, \"tx\": %llu, \"dropped\": %llu}", q ? ", " : "", c->rx, c->tx, c->dropped);
    t.rx += c->rx; t.tx += c->tx; t.arp_replies += c->arp_replies; t.dropped += c->dropped; t.write_errors += c->write_errors;
  }
  printf("], \"rx\": %llu, \"tx\": %llu, \"arp_replies\": %llu, \"dropped\": %llu, \"write_errors\": %llu}\n",
         t.rx, t.tx, t.arp_replies, t.dropped, t.write_errors);
  fflush(stdout);
  _exit(0);
usage:
  fprintf(stderr, "usage: tapfwd -i TAP [-q QUEUES] -m MAC -a IP [-a IP ...] -n IP=MAC [...] [-s VIP[:PORT]=RIP[,RIP...]]\n");
  return 2;
}
