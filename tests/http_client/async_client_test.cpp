// The asynchronous client as the gateway uses it (on a server's event loop): an instance's Unix-domain
// socket is used when it can be reached, TCP otherwise; GET calls are pipelined on one connection.
#include "shop/http_client/async_client.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "shop/http/app.h"
#include "shop/http_client/endpoints.h"
#include "shop/http_server/server.h"
#include "running_server.h"

namespace shop::http {
namespace {

/// A server on its own thread: `configure` adds routes before it starts.
using Running = shop::testing::RunningServer;

class OneEndpoint final : public EndpointSource {
 public:
  explicit OneEndpoint(std::shared_ptr<Endpoint> endpoint) {
    auto set = std::make_shared<EndpointSet>();
    set->endpoints.push_back(std::move(endpoint));
    set_ = std::move(set);
  }
  std::shared_ptr<const EndpointSet> Current() const override { return set_; }

 private:
  std::shared_ptr<const EndpointSet> set_;
};

/// Sends GET `target` on a new connection to 127.0.0.1:`port` and returns the socket, unread.
int SendGet(std::uint16_t port, std::string_view target) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  const std::string request = "GET " + std::string(target) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
  return fd;
}

/// Everything `fd` receives until the peer closes (or 5 s of silence); closes `fd`.
std::string ReadAll(int fd) {
  std::string got;
  char buffer[4096];
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) break;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    got.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return got;
}

/// GET `target` on 127.0.0.1:`port`, the whole answer as text.
std::string Get(std::uint16_t port, std::string_view target) { return ReadAll(SendGet(port, target)); }

/// An upstream that answers with the peer address its server saw (empty on a Unix-domain socket), and a
/// front whose every request goes to it through an AsyncClient.
struct Layout {
  std::string socket_path;
  Running upstream;
  std::unique_ptr<OneEndpoint> endpoints;
  std::unique_ptr<AsyncClient> client;
  Running front;

  Layout(std::string serve_on, std::string advertise)
      : socket_path(std::move(serve_on)),
        upstream(ServerOptions{.local_socket = socket_path},
                 [](App& app) {
                   app.router().Add("GET", "/peer", [](const Context& ctx) {
                     return JsonResponse(200, "\"" + ctx.request.peer + "\"");
                   });
                 }),
        endpoints(std::make_unique<OneEndpoint>(std::make_shared<Endpoint>(
            "upstream-1", "http://127.0.0.1:" + std::to_string(upstream.port()), "upstream",
            std::chrono::milliseconds(1000), std::move(advertise)))),
        client(std::make_unique<AsyncClient>(ClientOptions{.name = "upstream", .endpoints = endpoints.get()})),
        front(ServerOptions{}, [this](App& app) {
          app.SetAsyncFallback("proxy", [this](const Context& ctx, Respond respond) {
            client->Send(ctx.request, true, [respond](std::expected<Response, CallError> answer) {
              respond(answer ? std::move(*answer) : Problem(503, "dependency_unavailable", "no answer"));
            });
          });
        }) {}
};

/// A bare HTTP/1.1 upstream on 127.0.0.1: answers each GET as soon as it has read it, one write per
/// answer, with the request's target as a JSON string; counts the connections it accepted and the
/// requests each carried. With `close_after` > 0 it closes a connection, without a word, once it has
/// answered that many requests on it (what is still unanswered there is lost).
class BareUpstream {
 public:
  explicit BareUpstream(int close_after = 0) : close_after_(close_after) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(listener_, 64) == 0);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~BareUpstream() {
    stop_ = true;
    thread_.join();
    for (auto& [fd, conn] : conns_) ::close(fd);
    ::close(listener_);
  }
  std::uint16_t port() const { return port_; }
  int connections() const { return accepted_.load(); }
  /// The most requests one connection carried.
  int most_on_one() const { return most_.load(); }

 private:
  struct Conn {
    std::string in;
    int answered = 0;
  };

  void Run() {
    while (!stop_) {
      std::vector<pollfd> fds{{listener_, POLLIN, 0}};
      for (const auto& [fd, conn] : conns_) fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        const int fd = ::accept(listener_, nullptr, nullptr);
        if (fd >= 0) {
          conns_[fd] = Conn{};
          ++accepted_;
        }
      }
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        if (!Serve(fds[i].fd, conns_[fds[i].fd])) {
          ::close(fds[i].fd);
          conns_.erase(fds[i].fd);
        }
      }
    }
  }

  /// False when the connection is to be closed.
  bool Serve(int fd, Conn& conn) {
    char buffer[16384];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    conn.in.append(buffer, static_cast<std::size_t>(n));
    for (std::size_t end; (end = conn.in.find("\r\n\r\n")) != std::string::npos;) {
      const std::string head = conn.in.substr(0, end);
      conn.in.erase(0, end + 4);
      const std::size_t sp = head.find(' ');
      const std::string target = head.substr(sp + 1, head.find(' ', sp + 1) - sp - 1);
      const std::string body = "\"" + target + "\"";
      const std::string answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                                 std::to_string(body.size()) + "\r\n\r\n" + body;
      if (::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(answer.size())) return false;
      ++conn.answered;
      int most = most_.load();
      while (conn.answered > most && !most_.compare_exchange_weak(most, conn.answered)) {
      }
      if (close_after_ > 0 && conn.answered >= close_after_) return false;
    }
    return true;
  }

  const int close_after_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> most_{0};
  std::map<int, Conn> conns_;  // touched only by thread_
  std::thread thread_;
};

/// A front server whose every request goes through an AsyncClient to `port` (TCP).
struct Front {
  std::unique_ptr<OneEndpoint> endpoints;
  std::unique_ptr<AsyncClient> client;
  Running server;

  explicit Front(std::uint16_t port)
      : endpoints(std::make_unique<OneEndpoint>(
            std::make_shared<Endpoint>("upstream-1", "http://127.0.0.1:" + std::to_string(port), "upstream"))),
        client(std::make_unique<AsyncClient>(
            ClientOptions{.name = "upstream", .endpoints = endpoints.get(), .pipeline_gets = true})),
        server(ServerOptions{}, [this](App& app) {
          app.SetAsyncFallback("proxy", [this](const Context& ctx, Respond respond) {
            client->Send(ctx.request, true, [respond](std::expected<Response, CallError> answer) {
              respond(answer ? std::move(*answer) : Problem(503, "dependency_unavailable", "no answer"));
            });
          });
        }) {}
};

/// Sends GET /item/0 .. /item/{n-1} through `front` on n connections at once; checks each caller got
/// the answer to its own request.
void EachGetsItsOwn(const Front& front, int n) {
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) fds.push_back(SendGet(front.server.port(), "/item/" + std::to_string(i)));
  for (int i = 0; i < n; ++i) {
    const std::string answer = ReadAll(fds[static_cast<std::size_t>(i)]);
    CAPTURE(i);
    CHECK(answer.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(answer.ends_with("\r\n\r\n\"/item/" + std::to_string(i) + "\""));
  }
}

std::string TempSocket(std::string_view name) {
  return (std::filesystem::temp_directory_path() / (std::string(name) + "-" + std::to_string(::getpid()) + ".sock"))
      .string();
}

}  // namespace

TEST_SUITE("async_client") {
  TEST_CASE("an instance's local socket is used when it can be reached") {
    const std::string path = TempSocket("shop-async-client-local");
    Layout layout(path, path);
    CHECK(std::filesystem::exists(path));
    for (int i = 0; i < 3; ++i) {
      const std::string answer = Get(layout.front.port(), "/peer");
      CHECK(answer.starts_with("HTTP/1.1 200 OK\r\n"));
      CHECK_MESSAGE(answer.ends_with("\r\n\r\n\"\""), answer);  // no peer address: it came over the Unix-domain socket
    }
  }

  TEST_CASE("TCP is used when the local socket cannot be reached") {
    Layout layout("", "/nonexistent-dir/shop-async-client.sock");
    const std::string answer = Get(layout.front.port(), "/peer");
    CHECK(answer.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(answer.ends_with("\"127.0.0.1\""));
  }

  TEST_CASE("GET calls made at once go pipelined on one connection, and each caller gets its own answer") {
    BareUpstream upstream;
    Front front(upstream.port());
    EachGetsItsOwn(front, 1);  // its connection is kept, then used as the pipeline
    EachGetsItsOwn(front, 20);
    EachGetsItsOwn(front, 20);
    CHECK(upstream.connections() == 1);  // a connection per call would have needed up to 20
    CHECK(upstream.most_on_one() == 41);
  }

  TEST_CASE("an instance that closes a pipelined connection loses no call: what it did not answer goes again") {
    BareUpstream upstream(4);  // each connection: 4 answers, then closed with the rest unanswered
    Front front(upstream.port());
    EachGetsItsOwn(front, 1);
    EachGetsItsOwn(front, 20);
    EachGetsItsOwn(front, 20);
    CHECK(upstream.connections() > 1);
  }

  TEST_CASE("answers held back for pipelined requests go out together, in order, before the server waits") {
    // The server end of pipelining: 30 requests in one write, their answers in order, and a last
    // request split over two writes still answered (the held-back answers are written first).
    Running server(ServerOptions{}, [](App& app) {
      app.router().Add("GET", "/n/{n}", [](const Context& ctx) { return JsonResponse(200, std::string(ctx.params[0])); });
    });
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server.port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    std::string requests;
    for (int i = 0; i < 30; ++i) requests += "GET /n/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
    requests += "GET /n/30 HTTP/1.1\r\nHost: x\r\n";  // the rest of this one only after the answers
    REQUIRE(::send(fd, requests.data(), requests.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(requests.size()));
    std::string got;
    char buffer[65536];
    while (got.find("\r\n\r\n29") == std::string::npos) {
      pollfd p{fd, POLLIN, 0};
      REQUIRE(::poll(&p, 1, 5000) == 1);
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      REQUIRE(n > 0);
      got.append(buffer, static_cast<std::size_t>(n));
    }
    const std::string last = "Connection: close\r\n\r\n";
    REQUIRE(::send(fd, last.data(), last.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(last.size()));
    got += ReadAll(fd);
    std::size_t at = 0;
    for (int i = 0; i <= 30; ++i) {
      CAPTURE(i);
      at = got.find("\r\n\r\n" + std::to_string(i), at);
      REQUIRE(at != std::string::npos);
    }
  }

  TEST_CASE("the local socket's file is removed when its server stops") {
    const std::string path = TempSocket("shop-async-client-gone");
    { Layout layout(path, path); }
    CHECK_FALSE(std::filesystem::exists(path));
  }
}

}  // namespace shop::http
