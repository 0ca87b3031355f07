/*
 * minihttpd: the real server of the tapvs connection-rate benchmark (not part of the product). Answers every
 * HTTP/1.1 request with a 2-byte body and "Connection: close", then closes: one TCP connection per request,
 * the server closing first (TIME_WAIT stays on the real, as with a web server). epoll, non-blocking, one
 * thread per -t with SO_REUSEPORT, so it is not the bottleneck of a test whose client is wrk.
 *
 *   minihttpd PORT SECONDS [THREADS]
 * Prints {"served": N} after SECONDS (or on SIGTERM/SIGINT).
 *
 * Build: cc -O2 -pthread -o minihttpd bench/minihttpd.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nok";
static int port;
static unsigned long long served[64];

static int listener(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0 || listen(fd, 4096) < 0) {
    perror("minihttpd: listen");
    exit(1);
  }
  return fd;
}

static int lfds[64];

static void *serve(void *arg) {
  int id = (int)(long)arg, lfd = lfds[id], ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd}, evs[256];
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  char buf[4096];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, 100);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        int c;
        while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      /* A request fits in one segment here; answer once its header ends, close on EOF or error. */
      ssize_t len = read(fd, buf, sizeof buf - 1);
      if (len > 0) {
        buf[len] = 0;
        if (!strstr(buf, "\r\n\r\n")) continue;
        if (write(fd, RESPONSE, sizeof RESPONSE - 1) == (ssize_t)(sizeof RESPONSE - 1)) served[id]++;
      } else if (len < 0 && errno == EAGAIN) {
        continue;
      }
      close(fd);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: minihttpd PORT SECONDS [THREADS]\n");
    return 2;
  }
  port = atoi(argv[1]);
  double secs = atof(argv[2]);
  int threads = argc > 3 ? atoi(argv[3]) : 1;
  if (threads < 1 || threads > 64) return 2;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  for (int t = 0; t < threads; t++) lfds[t] = listener();
  for (int t = 0; t < threads; t++) {
    pthread_t th;
    pthread_create(&th, NULL, serve, (void *)(long)t);
  }
  fprintf(stderr, "minihttpd ready on %d\n", port);
  struct timespec ts = {.tv_sec = (time_t)secs, .tv_nsec = (long)((secs - (time_t)secs) * 1e9)};
  sigtimedwait(&set, NULL, &ts);
  unsigned long long total = 0;
  for (int t = 0; t < threads; t++) total += served[t];
  printf("{\"served\": %llu}\n", total);
  fflush(stdout);
  _exit(0);
}
