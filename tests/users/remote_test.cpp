// Split mode only: the users module across a process boundary, beyond the users::Api contract
// (contract_test.cpp): KeySync, and how the HTTP client fails when users does not answer as it should.

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "service_process.h"
#include "shop/core/time.h"
#include "shop/http/app.h"
#include "shop/http_server/server.h"
#include "shop/users/remote.h"
#include "temp_dir.h"
#include "users_fixture.h"

namespace shop::users {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::Detail;
using testing::Outcome;

/// Polls `done` until it holds or `deadline` passes; true when it held.
bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds deadline = 10s) {
  const auto until = Clock::now() + deadline;
  while (Clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);  // polling a condition with a deadline
  }
  return done();
}

double MillisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

/// A token for user 7 signed by `key`.
std::string TokenSignedBy(const auth::SigningKey& key) {
  const std::int64_t now = UnixNow();
  return key.Sign(auth::Claims{Principal{7, Role::kCustomer, {}}, now, now + 600});
}

/// A users::Api that serves a JWKS the test controls and counts the fetches; nothing else works.
class FakeUsers final : public Api {
 public:
  void Publish(const std::vector<auth::PublicKey>& keys) {
    std::lock_guard lock(mu_);
    jwks_ = auth::JwksJson(keys);
  }
  /// The next `n` fetches fail as an unreachable service would.
  void FailNext(int n) {
    std::lock_guard lock(mu_);
    failures_ = n;
  }
  int fetches() const { return fetches_; }

  std::expected<std::string, Error> Jwks() override {
    ++fetches_;
    std::lock_guard lock(mu_);
    const bool fail = failures_ > 0 || jwks_.empty();
    if (failures_ > 0) --failures_;
    if (fail) return Fail(Errc::kUnavailable, "users service could not be reached: connection failed");
    return jwks_;
  }
  std::expected<User, Error> Register(const NewUser&) override { return Fail(Errc::kUnavailable); }
  std::expected<AccessToken, Error> IssueToken(std::string_view, std::string_view) override {
    return Fail(Errc::kUnavailable);
  }
  std::expected<AccessToken, Error> IssueServiceToken(const ClientCredentials&) override {
    return Fail(Errc::kUnavailable);
  }
  std::expected<User, Error> GetUser(const Principal&, std::int64_t) override { return Fail(Errc::kUnavailable); }

 private:
  std::mutex mu_;
  std::string jwks_;
  int failures_ = 0;
  std::atomic<int> fetches_ = 0;
};

/// Sends what this process writes to stdout (the log) to a file while it lives.
class CapturedStdout {
 public:
  CapturedStdout() : saved_(::dup(STDOUT_FILENO)) {
    std::cout.flush();
    std::fflush(stdout);
    std::FILE* file = std::fopen((dir_ / "stdout").c_str(), "w");
    if (!file) throw std::runtime_error("cannot capture stdout");
    ::dup2(::fileno(file), STDOUT_FILENO);
    std::fclose(file);
  }
  ~CapturedStdout() { Restore(); }

  /// Stops capturing and returns what was written.
  std::string Restore() {
    if (saved_ >= 0) {
      std::cout.flush();
      std::fflush(stdout);
      ::dup2(saved_, STDOUT_FILENO);
      ::close(saved_);
      saved_ = -1;
    }
    std::ifstream in(dir_ / "stdout");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

 private:
  shop::testing::TempDir dir_;
  int saved_;
};

std::size_t CountOf(std::string_view text, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

/// A shop-users process on a port of its own (not started), with a signing key the test holds too.
struct UsersProcess {
  UsersProcess()
      : key(auth::SigningKey::LoadOrCreate(dir / "jwt-ed25519.pem")),
        process({.binary = shop::testing::ServiceProcess::BinDir() / "shop-users",
                 .args = {"--port", "{port}", "--data-dir", (dir / "data").string(), "--signing-key",
                          (dir / "jwt-ed25519.pem").string()},
                 .env = {},
                 .log_file = dir / "shop-users.log"}) {}

  shop::testing::TempDir dir;
  auth::SigningKey key;
  shop::testing::ServiceProcess process;
};

/// A stand-in users service on a real socket: every route answers what the test scripts.
class ScriptedUsers {
 public:
  ScriptedUsers() {
    for (const char* route : {"POST /users", "POST /auth/token", "GET /users/{id}", "GET /.well-known/jwks.json"}) {
      const std::string_view r(route);
      const auto space = r.find(' ');
      app_.router().Add(r.substr(0, space), r.substr(space + 1), [this](const http::Context& ctx) {
        std::lock_guard lock(mu_);
        ++calls_;
        last_ = ctx.request;
        http::Response response;
        response.status = status_;
        response.headers.Add("Content-Type", content_type_);
        response.body = body_;
        return response;
      });
    }
    app_.Seal();
    server_ = std::make_unique<http::Server>(http::ServerOptions{.port = 0, .threads = 1}, app_);
    thread_ = std::thread([this] { server_->Run(); });
  }
  ~ScriptedUsers() {
    server_->Stop();
    thread_.join();
  }

  /// What every route answers from now on; resets the call count.
  void Answer(int status, std::string body, std::string content_type = "application/json") {
    std::lock_guard lock(mu_);
    status_ = status;
    body_ = std::move(body);
    content_type_ = std::move(content_type);
    calls_ = 0;
  }
  void AnswerProblem(int status, std::string_view code, std::string_view detail) {
    http::Response problem = http::Problem(status, code, detail);
    Answer(status, problem.body, "application/problem+json");
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  http::Request last_request() {
    std::lock_guard lock(mu_);
    return last_;
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

 private:
  http::App app_{"users", "test"};
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
  std::mutex mu_;
  int status_ = 200;
  std::string body_ = "{}";
  std::string content_type_ = "application/json";
  int calls_ = 0;
  http::Request last_;
};

/// A loopback port that accepts connections (the kernel's backlog does) but never answers.
class SilentListener {
 public:
  SilentListener() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot listen on loopback");
    }
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_;
  std::uint16_t port_ = 0;
};

TEST_CASE("KeySync fetches the keys once users starts, and verification outlives users") {
  UsersProcess users;
  auto client = MakeHttpClient({.name = "users",
                                .base_url = users.process.url(),
                                .connect_timeout = 200ms,
                                .request_timeout = 2000ms,
                                .breaker_open_for = 100ms});
  auth::Verifier verifier;
  KeySync sync(*client, verifier, 20ms);
  CHECK_FALSE(verifier.HasKeys());  // nothing listens yet

  users.process.Launch();
  REQUIRE(users.process.WaitReady(20s));
  REQUIRE(Eventually([&] { return verifier.HasKeys(); }));

  // Tokens users issues verify locally.
  REQUIRE(Outcome(client->Register({"kim@example.com", "correct horse", "Kim"})) == "ok");
  auto token = client->IssueToken("kim@example.com", "correct horse");
  REQUIRE_MESSAGE(token.has_value(), Detail(token));
  auto kim = verifier.Verify(token->token);
  REQUIRE(kim.has_value());

  CHECK(users.process.Stop() == 0);
  CHECK(verifier.Verify(token->token).has_value());
  CHECK(verifier.Verify(TokenSignedBy(users.key)).has_value());
  // A key nobody published: the refresh fails (users is down) and the token is refused, quickly.
  const auto start = Clock::now();
  CHECK(verifier.Verify(TokenSignedBy(auth::SigningKey::Generate())).error() == auth::VerifyError::kUnknownKey);
  CHECK(MillisecondsSince(start) < 1000);
  CHECK(verifier.Verify(token->token).has_value());
}

TEST_CASE("KeySync retries until users answers, warning once and logging the keys it got") {
  const auto key = auth::SigningKey::Generate();
  FakeUsers users;
  users.Publish({key.public_key()});
  users.FailNext(3);
  auth::Verifier verifier;
  CapturedStdout out;
  {
    KeySync sync(users, verifier, 10ms);
    REQUIRE(Eventually([&] { return verifier.HasKeys(); }));
  }
  const std::string log = out.Restore();
  CAPTURE(log);
  CHECK(users.fetches() == 4);
  CHECK(verifier.Verify(TokenSignedBy(key)).has_value());
  CHECK(CountOf(log, "token keys could not be fetched") == 1);
  CHECK(CountOf(log, "token keys fetched") == 1);
  CHECK(CountOf(log, R"("keys":1)") == 1);
}

TEST_CASE("KeySync refetches for an unknown key at most once per min_refresh_interval") {
  const auto key = auth::SigningKey::Generate();
  const auto rotated = auth::SigningKey::Generate();
  const auto forged = auth::SigningKey::Generate();
  FakeUsers users;
  users.Publish({key.public_key()});
  auth::Verifier verifier;
  KeySync sync(users, verifier, 10ms, 1s);
  REQUIRE(Eventually([&] { return verifier.HasKeys(); }));
  REQUIRE(users.fetches() == 1);
  CHECK(verifier.Verify(TokenSignedBy(key)).has_value());
  CHECK(users.fetches() == 1);  // a known key needs no fetch

  // A forged kid costs one fetch, then none until the interval has passed.
  const auto first_refresh = Clock::now();
  CHECK(verifier.Verify(TokenSignedBy(forged)).error() == auth::VerifyError::kUnknownKey);
  CHECK(users.fetches() == 2);
  users.Publish({key.public_key(), rotated.public_key()});
  for (int i = 0; i < 20; ++i) {
    CHECK(verifier.Verify(TokenSignedBy(forged)).error() == auth::VerifyError::kUnknownKey);
    CHECK(verifier.Verify(TokenSignedBy(rotated)).error() == auth::VerifyError::kUnknownKey);
  }
  CHECK(users.fetches() == 2);

  // Once it has passed, the next unknown kid fetches again and the rotated key is trusted.
  REQUIRE(Eventually([&] { return verifier.Verify(TokenSignedBy(rotated)).has_value(); }, 5s));
  CHECK(MillisecondsSince(first_refresh) >= 1000);
  CHECK(users.fetches() == 3);
  CHECK(verifier.Verify(TokenSignedBy(key)).has_value());
}

TEST_CASE("KeySync stops promptly when destroyed while waiting to retry, and its callback goes with it") {
  FakeUsers users;  // publishes nothing: every fetch fails
  auth::Verifier verifier;
  auto sync = std::make_unique<KeySync>(users, verifier, std::chrono::hours(1));
  REQUIRE(Eventually([&] { return users.fetches() == 1; }));

  const auto start = Clock::now();
  sync.reset();
  CHECK(MillisecondsSince(start) < 1000);

  const int fetches = users.fetches();
  CHECK(verifier.Verify(TokenSignedBy(auth::SigningKey::Generate())).error() == auth::VerifyError::kUnknownKey);
  CHECK(users.fetches() == fetches);
}

TEST_CASE("Client: with users stopped every call is kUnavailable, and fast once the circuit is open") {
  UsersProcess users;
  users.process.Start();
  auto client = MakeHttpClient({.name = "users",
                                .base_url = users.process.url(),
                                .connect_timeout = 200ms,
                                .request_timeout = 1000ms,
                                .backoff = 1ms,
                                .breaker_failures = 3,
                                .breaker_open_for = 60s});
  REQUIRE(Outcome(client->Register({"lee@example.com", "correct horse", "Lee"})) == "ok");
  auto token = client->IssueToken("lee@example.com", "correct horse");
  REQUIRE_MESSAGE(token.has_value(), Detail(token));
  const Principal lee{1, Role::kCustomer, token->token};
  REQUIRE(Outcome(client->GetUser(lee, 1)) == "ok");

  CHECK(users.process.Stop() == 0);
  auto down = client->Jwks();
  REQUIRE(Outcome(down) == "dependency_unavailable");
  CHECK_MESSAGE(Detail(down).starts_with("users service could not be reached"), Detail(down));
  // Failures open the circuit; from then on calls are refused without trying.
  REQUIRE(Eventually([&] { return Detail(client->Jwks()).find("circuit open") != std::string::npos; }));

  const auto start = Clock::now();
  for (int i = 0; i < 10; ++i) {
    CHECK(Outcome(client->Register({"max@example.com", "correct horse", "Max"})) == "dependency_unavailable");
    CHECK(Outcome(client->IssueToken("lee@example.com", "correct horse")) == "dependency_unavailable");
    CHECK(Outcome(client->GetUser(lee, 1)) == "dependency_unavailable");
    CHECK(Outcome(client->Jwks()) == "dependency_unavailable");
  }
  CHECK(MillisecondsSince(start) < 1000);
}

TEST_CASE("Client: a users that never answers times out as kUnavailable, then the circuit answers at once") {
  SilentListener silent;
  auto client = MakeHttpClient({.name = "users",
                                .base_url = silent.url(),
                                .connect_timeout = 200ms,
                                .request_timeout = 100ms,
                                .max_attempts = 2,
                                .backoff = 1ms,
                                .breaker_failures = 2,
                                .breaker_open_for = 60s});
  auto timed_out = client->Jwks();
  REQUIRE(Outcome(timed_out) == "dependency_unavailable");
  CHECK(Detail(timed_out) == "users service could not be reached: timed out");

  const auto start = Clock::now();
  auto refused = client->IssueToken("lee@example.com", "correct horse");
  REQUIRE(Outcome(refused) == "dependency_unavailable");
  CHECK(Detail(refused).find("circuit open") != std::string::npos);
  CHECK(MillisecondsSince(start) < 1000);
}

TEST_CASE("Client: problems map back to the same errors and details, other answers are kUnavailable") {
  ScriptedUsers users;
  auto client = MakeHttpClient({.name = "users", .base_url = users.url(), .backoff = 1ms, .breaker_failures = 1000});
  const Principal caller{7, Role::kCustomer, "header.payload.signature"};

  SUBCASE("each users error code comes back as its Errc, with the detail") {
    users.AnswerProblem(409, "email_taken", "email: is taken");
    auto taken = client->Register({"a@example.com", "correct horse", "A"});
    CHECK(Outcome(taken) == "email_taken");
    CHECK(Detail(taken) == "email: is taken");
    users.AnswerProblem(400, "validation_failed", "name: must be 1 to 100 characters after trimming");
    CHECK(Detail(client->Register({"a@example.com", "correct horse", "A"})) ==
          "name: must be 1 to 100 characters after trimming");
    users.AnswerProblem(401, "invalid_credentials", "the email or password is wrong");
    CHECK(Outcome(client->IssueToken("a@example.com", "x")) == "invalid_credentials");
    users.AnswerProblem(404, "not_found", "no such user");
    CHECK(Outcome(client->GetUser(caller, 9)) == "not_found");
  }

  SUBCASE("GetUser presents the caller's credential; a refused one is not_found, none is not sent") {
    users.AnswerProblem(401, "unauthenticated", "token expired");
    auto refused = client->GetUser(caller, 9);
    CHECK(Outcome(refused) == "not_found");
    CHECK(Detail(refused) == "no such user");
    CHECK(users.last_request().target == "/users/9");
    CHECK(users.last_request().headers.Get("Authorization") == "Bearer header.payload.signature");
    users.Answer(200, "{}");
    CHECK(Outcome(client->GetUser(Principal{7, Role::kCustomer, {}}, 7)) == "not_found");
    CHECK(Outcome(client->GetUser(Principal{7, Role::kCustomer, "a.b\r\nX-Evil: 1"}, 7)) == "not_found");
    CHECK(Outcome(client->GetUser(Principal{7, Role::kCustomer, std::string(5000, 'a')}, 7)) == "not_found");
    CHECK(users.calls() == 0);
  }

  SUBCASE("requests carry the API's JSON bodies") {
    users.Answer(
        201, R"({"id":3,"email":"a@example.com","name":"A","role":"customer","created_at":"2026-01-01T00:00:00Z"})");
    auto user = client->Register({"a@example.com", "correct horse", "A"});
    REQUIRE_MESSAGE(user.has_value(), Detail(user));
    CHECK(user->id == 3);
    CHECK(user->created_at == "2026-01-01T00:00:00Z");
    CHECK(users.last_request().target == "/users");
    CHECK(users.last_request().headers.Get("Content-Type") == "application/json");
    CHECK(users.last_request().body == R"({"email":"a@example.com","password":"correct horse","name":"A"})");

    users.Answer(200, R"({"access_token":"a.b.c","token_type":"bearer","expires_in":60})");
    auto token = client->IssueToken("a@example.com", "correct horse");
    REQUIRE_MESSAGE(token.has_value(), Detail(token));
    CHECK(token->token == "a.b.c");
    CHECK(token->expires_in == 60);
    CHECK(users.last_request().body == R"({"email":"a@example.com","password":"correct horse"})");

    // Credentials that cannot be right and cannot travel as they are: asked as ones that match nobody.
    users.AnswerProblem(401, "invalid_credentials", "the email or password is wrong");
    CHECK(Outcome(client->IssueToken("a@example.com\xff", "correct horse")) == "invalid_credentials");
    CHECK(users.last_request().body == R"({"email":"","password":"correct horse"})");
    CHECK(Outcome(client->IssueToken("a@example.com", std::string(513, 'p'))) == "invalid_credentials");
    CHECK(users.last_request().body == R"({"email":"a@example.com","password":""})");
    CHECK(users.calls() == 2);
  }

  SUBCASE("a registration too large for the service is invalid input, as in-process") {
    auto huge = client->Register({"a@example.com", "correct horse", std::string(2 << 20, 'n')});
    CHECK(Outcome(huge) == "validation_failed");
    CHECK(Detail(huge) == "the request body exceeds 1 MiB");
    users.AnswerProblem(413, "payload_too_large", "the request body exceeds 1 KiB");
    auto large = client->Register({"a@example.com", "correct horse", std::string(2 << 10, 'n')});
    CHECK(Outcome(large) == "validation_failed");
    CHECK(Detail(large) == "the request body exceeds 1 KiB");
  }

  SUBCASE("5xx answers are kUnavailable; only calls that are safe to repeat are retried") {
    users.AnswerProblem(503, "dependency_unavailable", "users.db is not available");
    CHECK(Detail(client->Register({"a@example.com", "correct horse", "A"})) == "users service failed: HTTP 503");
    CHECK(users.calls() == 1);
    users.AnswerProblem(503, "dependency_unavailable", "users.db is not available");
    CHECK(Outcome(client->IssueToken("a@example.com", "correct horse")) == "dependency_unavailable");
    CHECK(users.calls() == 3);
    users.AnswerProblem(500, "internal", "boom");
    CHECK(Outcome(client->Jwks()) == "dependency_unavailable");
  }

  SUBCASE("answers from a newer users service, with fields this client does not know, are read") {
    const std::string user_json =
        R"({"id":3,"email":"a@example.com","name":"A","role":"customer","created_at":"2026-01-01T00:00:00Z")";
    users.Answer(201, user_json + R"(,"locale":"en-GB","flags":{"beta":true},"tags":[1,2]})");
    auto registered = client->Register({"a@example.com", "correct horse", "A"});
    REQUIRE_MESSAGE(registered.has_value(), Detail(registered));
    CHECK(registered->id == 3);
    CHECK(registered->email == "a@example.com");
    users.Answer(200, user_json + R"(,"locale":"en-GB"})");
    auto user = client->GetUser(caller, 3);
    REQUIRE_MESSAGE(user.has_value(), Detail(user));
    CHECK(user->name == "A");
    users.Answer(200, R"({"access_token":"a.b.c","token_type":"Bearer","expires_in":60,"scope":"x","refresh_in":30})");
    auto token = client->IssueToken("a@example.com", "correct horse");
    REQUIRE_MESSAGE(token.has_value(), Detail(token));
    CHECK(token->token == "a.b.c");
    // Problems may carry members of their own (RFC 9457 extensions).
    users.Answer(409, R"({"type":"about:blank","title":"Conflict","status":409,"detail":"taken","code":"email_taken",)"
                      R"("instance":"/users","retry_after":null})",
                 "application/problem+json");
    auto taken = client->Register({"a@example.com", "correct horse", "A"});
    CHECK(Outcome(taken) == "email_taken");
    CHECK(Detail(taken) == "taken");
  }

  SUBCASE("answers that are not what the API promises are kUnavailable") {
    const std::string user_json =
        R"({"id":3,"email":"a@example.com","name":"A","role":"customer","created_at":"2026-01-01T00:00:00Z")";
    for (const auto& [status, body] : std::vector<std::pair<int, std::string>>{
             {201, "not json"},
             {201, "[]"},
             {201, R"({"id":3,"email":"a@example.com","name":"A","role":"root","created_at":"x"})"},
             {201, R"({"id":"3","email":"a@example.com","name":"A","role":"customer","created_at":"x"})"},
             {200, user_json + "}"},  // the wrong success status
             {429, http::Problem(429, "rate_limited", "slow down").body},
             {409, http::Problem(409, "sku_taken", "not ours").body},
             {404, http::Problem(409, "email_taken", "status and code disagree").body},
             {418, "teapot"},
         }) {
      CAPTURE(status);
      CAPTURE(body);
      users.Answer(status, body);
      auto user = client->Register({"a@example.com", "correct horse", "A"});
      CHECK(Outcome(user) == "dependency_unavailable");
      CHECK(Detail(user).starts_with("users service sent an"));
    }
    users.Answer(200, R"({"access_token":"a.b.c","token_type":"mac","expires_in":60})");
    CHECK(Outcome(client->IssueToken("a@example.com", "correct horse")) == "dependency_unavailable");
    users.Answer(200, R"({"keys":[)");
    CHECK(Outcome(client->Jwks()) == "dependency_unavailable");
  }
}

}  // namespace
}  // namespace shop::users
