// CPU per round trip of a request (150 bytes) and its answer (300 bytes) between two processes on one
// core, over loopback TCP or a Unix-domain socket: what a hop between the gateway and a service costs
// the kernel (bench/README.md, "Where the gateway's time goes"). Not part of the build:
//   g++ -O2 -o /tmp/pingpong bench/micro/loopback_pingpong.cpp
//   taskset -c 0 /tmp/pingpong tcp 64000 1; taskset -c 0 /tmp/pingpong uds 64000 1
// Arguments: tcp|uds, round trips, K connections (the client sends on all K, then reads all K). The
// server is an epoll loop. Measured on the 2-core VM: tcp K=1 25.6 us (12.5 client + 13.0 server),
// uds K=1 13.8 us; K=16 20.2 and 8.0 us.
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <vector>
int main(int argc, char** argv) {
  bool uds = !strcmp(argv[1], "uds"); int n = atoi(argv[2]); int K = atoi(argv[3]);
  int lfd; sockaddr_storage ss{}; socklen_t sl; int one = 1;
  if (uds) { lfd = socket(AF_UNIX, SOCK_STREAM, 0); auto* a = (sockaddr_un*)&ss; a->sun_family = AF_UNIX; snprintf(a->sun_path, sizeof a->sun_path, "/tmp/pingpong.%d.sock", getpid()); unlink(a->sun_path); sl = sizeof *a; }
  else { lfd = socket(AF_INET, SOCK_STREAM, 0); setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); auto* a = (sockaddr_in*)&ss; a->sin_family = AF_INET; a->sin_port = htons(27998); a->sin_addr.s_addr = htonl(INADDR_LOOPBACK); sl = sizeof *a; }
  bind(lfd, (sockaddr*)&ss, sl); listen(lfd, 64);
  if (fork() == 0) {
    int ep = epoll_create1(0); std::vector<int> cs;
    for (int i = 0; i < K; ++i) { int c = accept(lfd, nullptr, nullptr); if (!uds) setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); epoll_event e{EPOLLIN, {.fd = c}}; epoll_ctl(ep, EPOLL_CTL_ADD, c, &e); }
    char b[4096]; char resp[300]; memset(resp, 'r', 300); epoll_event evs[64]; int open = K;
    while (open > 0) { int m = epoll_wait(ep, evs, 64, -1); for (int i = 0; i < m; ++i) { ssize_t k = recv(evs[i].data.fd, b, sizeof b, 0); if (k <= 0) { close(evs[i].data.fd); --open; continue; } send(evs[i].data.fd, resp, 300, MSG_NOSIGNAL); } }
    _exit(0);
  }
  std::vector<int> cs; for (int i = 0; i < K; ++i) { int c = socket(uds ? AF_UNIX : AF_INET, SOCK_STREAM, 0); connect(c, (sockaddr*)&ss, sl); if (!uds) setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); cs.push_back(c); }
  char req[150]; memset(req, 'q', 150); char b[4096];
  rusage r0; getrusage(RUSAGE_SELF, &r0);
  for (int i = 0; i < n / K; ++i) { for (int c : cs) send(c, req, 150, 0); for (int c : cs) { size_t got = 0; while (got < 300) got += recv(c, b, sizeof b, 0); } }
  rusage r1; getrusage(RUSAGE_SELF, &r1);
  for (int c : cs) close(c);
  int st;
  wait(&st);
  rusage ch;
  getrusage(RUSAGE_CHILDREN, &ch);
  auto us = [](const rusage& r){ return r.ru_utime.tv_sec*1e6 + r.ru_utime.tv_usec + r.ru_stime.tv_sec*1e6 + r.ru_stime.tv_usec; };
  double self = (us(r1)-us(r0))/n, child = us(ch)/n;
  printf("%s K=%d: cpu client %.2f + server %.2f = %.2f us/rt\n", uds?"uds":"tcp", K, self, child, self+child);
}
