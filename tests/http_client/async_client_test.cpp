// The asynchronous client as the gateway uses it (on a server's event loop): an instance's Unix-domain
// socket is used when it can be reached, TCP otherwise.
#include "shop/http_client/async_client.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>

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

/// GET `target` on 127.0.0.1:`port`, the whole answer as text.
std::string Get(std::uint16_t port, std::string_view target) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  const std::string request = "GET " + std::string(target) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
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
      CHECK(answer.ends_with("\r\n\r\n\"\""));  // no peer address: it came over the Unix-domain socket
    }
  }

  TEST_CASE("TCP is used when the local socket cannot be reached") {
    Layout layout("", "/nonexistent-dir/shop-async-client.sock");
    const std::string answer = Get(layout.front.port(), "/peer");
    CHECK(answer.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(answer.ends_with("\"127.0.0.1\""));
  }

  TEST_CASE("the local socket's file is removed when its server stops") {
    const std::string path = TempSocket("shop-async-client-gone");
    { Layout layout(path, path); }
    CHECK_FALSE(std::filesystem::exists(path));
  }
}

}  // namespace shop::http
