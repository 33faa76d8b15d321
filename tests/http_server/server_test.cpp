// The server's transport: keep-alive and pipelined requests on one connection, and the deadlines the
// worker's sweep enforces (an idle connection, a request that never completes), with other clients
// served meanwhile.
#include "shop/http_server/server.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include "shop/http/app.h"
#include "shop/http/request_context.h"
#include "running_server.h"

namespace shop::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// A server with one route, GET /hello.
class TestServer : public shop::testing::RunningServer {
 public:
  explicit TestServer(ServerOptions options)
      : RunningServer(std::move(options), [](App& app) {
          app.router().Add("GET", "/hello", [](const Context&) { return JsonResponse(200, R"({"hello":true})"); });
        }) {}
};

/// A raw loopback connection.
class Raw {
 public:
  explicit Raw(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~Raw() { ::close(fd_); }
  void Send(std::string_view bytes) { REQUIRE(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())); }
  /// Everything received until `count` responses are complete (by their Content-Length), the peer closes,
  /// or `timeout` passes.
  std::string Read(int count, std::chrono::milliseconds timeout, bool* closed = nullptr) {
    std::string got;
    const auto deadline = Clock::now() + timeout;
    while (Responses(got) < count) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
      char buffer[4096];
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) {
        if (closed) *closed = true;
        break;
      }
      got.append(buffer, static_cast<std::size_t>(n));
    }
    return got;
  }
  /// True when the peer closes the connection within `timeout`, without sending anything more.
  bool ClosedWithin(std::chrono::milliseconds timeout) {
    bool closed = false;
    const std::string rest = Read(1, timeout, &closed);
    return closed && rest.empty();
  }

  static int Responses(const std::string& bytes) {
    int n = 0;
    std::size_t at = 0;
    while (true) {
      const auto end = bytes.find("\r\n\r\n", at);
      if (end == std::string::npos) return n;
      const auto length_at = bytes.find("Content-Length: ", at);
      if (length_at == std::string::npos || length_at > end) return n;
      const std::size_t length = std::stoul(bytes.substr(length_at + 16));
      if (bytes.size() < end + 4 + length) return n;
      ++n;
      at = end + 4 + length;
    }
  }

 private:
  int fd_;
};

constexpr std::string_view kGet = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";

}  // namespace

TEST_SUITE("http_server") {
  TEST_CASE("one connection carries many requests, one at a time and pipelined") {
    TestServer server({});
    Raw c(server.port());
    for (int i = 0; i < 50; ++i) {
      c.Send(kGet);
      CHECK(Raw::Responses(c.Read(1, 5s)) == 1);
    }
    std::string burst;
    for (int i = 0; i < 40; ++i) burst += kGet;
    c.Send(burst);
    const std::string answers = c.Read(40, 5s);
    CHECK(Raw::Responses(answers) == 40);
    CHECK(answers.starts_with("HTTP/1.1 200 OK\r\n"));
  }

  TEST_CASE("a task deferred by a delay runs on the server thread after it, while other requests are served") {
    shop::testing::RunningServer server({}, [](App& app) {
      app.router().Add("GET", "/hello", [](const Context&) { return JsonResponse(200, R"({"hello":true})"); });
      app.router().AddAsync("GET", "/later", [](const Context&, Respond respond) {
        const auto asked = Clock::now();
        const std::thread::id thread = std::this_thread::get_id();
        DeferFor(std::chrono::microseconds(50'000), [respond = std::move(respond), asked, thread] {
          const bool waited = Clock::now() - asked >= 50ms;
          const bool same_thread = std::this_thread::get_id() == thread;
          respond(JsonResponse(200, std::string(R"({"waited":)") + (waited ? "true" : "false") +
                                        R"(,"same_thread":)" + (same_thread ? "true" : "false") + "}"));
        });
      });
    });
    Raw later(server.port());
    later.Send("GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
    Raw other(server.port());
    other.Send(kGet);
    CHECK(Raw::Responses(other.Read(1, 5s)) == 1);
    const std::string answer = later.Read(1, 5s);
    REQUIRE(Raw::Responses(answer) == 1);
    CHECK(answer.find(R"({"waited":true,"same_thread":true})") != std::string::npos);
  }

  // A server with an async route sends every request through the async path; an answer given before
  // the handler returns must not wait for the event loop, and one given later must not lose the bytes
  // the client pipelined behind it (the session keeps track of whether its socket is drained).
  TEST_CASE("with an async route, answers given at once and later keep their order on one connection") {
    shop::testing::RunningServer server({}, [](App& app) {
      app.router().Add("GET", "/hello", [](const Context&) { return JsonResponse(200, R"({"hello":true})"); });
      app.router().AddAsync("GET", "/now", [](const Context&, Respond respond) {
        respond(JsonResponse(200, R"({"now":true})"));
      });
      app.router().AddAsync("GET", "/later", [](const Context&, Respond respond) {
        DeferFor(std::chrono::microseconds(2'000), [respond = std::move(respond)] {
          respond(JsonResponse(200, R"({"later":true})"));
        });
      });
    });
    const auto get = [](std::string_view path) { return "GET " + std::string(path) + " HTTP/1.1\r\nHost: x\r\n\r\n"; };
    const auto path_of = [](int i) -> std::string_view { return i % 3 == 0 ? "/hello" : i % 3 == 1 ? "/now" : "/later"; };
    Raw c(server.port());
    for (int i = 0; i < 30; ++i) {  // one at a time: each answer arrives without another request behind it
      const std::string_view path = path_of(i);
      CAPTURE(path);
      c.Send(get(path));
      REQUIRE(Raw::Responses(c.Read(1, 5s)) == 1);
    }
    std::string burst;
    std::string expected_order;
    for (int i = 0; i < 45; ++i) {  // pipelined: the later answers hold requests already read
      const std::string_view path = path_of(i);
      burst += get(path);
      expected_order += path.substr(1, 1);
    }
    c.Send(burst);
    const std::string answers = c.Read(45, 10s);
    REQUIRE(Raw::Responses(answers) == 45);
    std::string order;
    for (std::size_t at = answers.find("\r\n\r\n{\""); at != std::string::npos; at = answers.find("\r\n\r\n{\"", at + 1)) {
      order += answers.substr(at + 6, 1);
    }
    CHECK(order == expected_order);
  }

  TEST_CASE("thread_start runs once on every handler thread before it serves; a failing one is logged, not fatal") {
    for (const bool fail : {false, true}) {
      CAPTURE(fail);
      std::mutex mu;
      std::multiset<std::thread::id> started;
      std::set<std::thread::id> handled;
      ServerOptions options;
      options.handler_threads = 4;
      options.thread_start = [&] {
        {
          std::lock_guard lock(mu);
          started.insert(std::this_thread::get_id());
        }
        if (fail) throw std::runtime_error("cannot open the session");
      };
      shop::testing::RunningServer server(options, [&](App& app) {
        app.router().Add("GET", "/hello", [&](const Context&) {
          std::lock_guard lock(mu);
          handled.insert(std::this_thread::get_id());
          return JsonResponse(200, R"({"hello":true})");
        });
      });
      {
        std::lock_guard lock(mu);
        CHECK(started.size() == 4);  // the pool's threads, all before the server could be announced
      }
      Raw c(server.port());
      for (int i = 0; i < 20; ++i) {
        c.Send(kGet);
        REQUIRE(Raw::Responses(c.Read(1, 5s)) == 1);
      }
      std::lock_guard lock(mu);
      CHECK(started.size() == 5);  // and the one I/O thread
      CHECK(std::set<std::thread::id>(started.begin(), started.end()).size() == 5);  // once each
      for (const auto& id : handled) CHECK(started.count(id) == 1);
    }
  }

  TEST_CASE("an idle keep-alive connection is closed after idle_timeout, while others are served") {
    ServerOptions options;
    options.idle_timeout = 1s;
    TestServer server(options);
    Raw idle(server.port());
    idle.Send(kGet);
    REQUIRE(Raw::Responses(idle.Read(1, 5s)) == 1);
    const auto start = Clock::now();
    Raw other(server.port());
    for (int i = 0; i < 5; ++i) {
      other.Send(kGet);
      CHECK(Raw::Responses(other.Read(1, 5s)) == 1);
    }
    CHECK(idle.ClosedWithin(4s));
    const auto waited = Clock::now() - start;
    CHECK(waited >= 900ms);
    CHECK(waited < 3s);
  }

  TEST_CASE("a request that never completes is cut off after request_timeout") {
    ServerOptions options;
    options.request_timeout = 1s;
    options.idle_timeout = 60s;
    TestServer server(options);
    Raw slow(server.port());
    slow.Send("GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    const auto start = Clock::now();
    CHECK(slow.ClosedWithin(5s));
    CHECK(Clock::now() - start >= 900ms);
    // A connection that completes its request in time is answered.
    Raw fine(server.port());
    fine.Send("GET /hello HTTP/1.1\r\n");
    std::this_thread::sleep_for(300ms);
    fine.Send("Host: x\r\n\r\n");
    CHECK(Raw::Responses(fine.Read(1, 5s)) == 1);
  }

  TEST_CASE("a connection that keeps sending within its deadlines stays open past them") {
    ServerOptions options;
    options.idle_timeout = 1s;
    options.request_timeout = 1s;
    TestServer server(options);
    Raw c(server.port());
    const auto until = Clock::now() + 2500ms;
    while (Clock::now() < until) {
      c.Send(kGet);
      REQUIRE(Raw::Responses(c.Read(1, 5s)) == 1);
      std::this_thread::sleep_for(300ms);
    }
  }
}

}  // namespace shop::http
