// The platform of the split layout (PLATFORM.md), with real processes on a real NATS server:
// central configuration (KV bucket shop_config) reaching every process hot, surviving restarts of a
// process and of NATS; the service registry (KV bucket shop_registry): a new instance takes traffic,
// a killed one stops being called, another major version is never called, callers ride out a NATS
// outage; one request id traced through gateway, orders and products.
// The cases share one layout and run in file order (--order-by=file). Every wait polls a condition
// with a deadline; times are taken with steady_clock and printed (MESSAGE) for the record: run it
// with `ctest -R platform_split -V` to see them. SHOP_TEST_KEEP_LOGS=DIR keeps the processes' logs.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "service_process.h"
#include "shop/http_client/client.h"
#include "shop/nats/nats.h"
#include "temp_dir.h"

namespace {

namespace json = boost::json;
using shop::testing::ServiceProcess;
using shop::testing::WriteOrdersSecret;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kAdminEmail = "platform-admin@example.com";
constexpr const char* kAdminPassword = "platform-admin-password";
constexpr const char* kCustomerEmail = "platform-customer@example.com";
constexpr const char* kCustomerPassword = "customer-password";

/// The contract's bound: a change takes effect in every process within 1 s.
constexpr milliseconds kPropagationBound{1000};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

void Pause(int ms) { ::poll(nullptr, 0, ms); }  // between two looks at a condition

struct Reply {
  int status = 0;  // 0: no answer at all
  json::value body;
};

std::string Code(const Reply& r) {
  const auto* code = r.body.is_object() ? r.body.as_object().if_contains("code") : nullptr;
  return code && code->is_string() ? std::string(code->as_string()) : std::string();
}

/// A client that never retries and never opens its circuit: the test sees every answer.
std::unique_ptr<shop::http::Client> TestClient(const std::string& url) {
  return std::make_unique<shop::http::Client>(shop::http::ClientOptions{
      .name = "test", .base_url = url, .max_attempts = 1, .breaker_failures = 1 << 30});
}

Reply Call(shop::http::Client& client, const std::string& method, const std::string& target,
           const std::string& token = {}, const std::string& body = {}, const std::string& request_id = {}) {
  shop::http::Request request;
  request.method = method;
  request.target = target;
  if (!token.empty()) request.headers.Add("Authorization", "Bearer " + token);
  if (!request_id.empty()) request.headers.Add("X-Request-Id", request_id);
  if (!body.empty()) {
    request.headers.Add("Content-Type", "application/json");
    request.body = body;
  }
  auto response = client.Send(std::move(request), false);
  Reply reply;
  if (!response) return reply;
  reply.status = response->status;
  boost::system::error_code ec;
  reply.body = json::parse(response->body, ec);
  if (ec) reply.body = json::string(response->body);
  return reply;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string UniqueId(const std::string& prefix) {
  static std::atomic<int> n{0};
  std::random_device random;
  return prefix + "-" + std::to_string(random() % 1000000) + "-" + std::to_string(++n);
}

/// NATS, users, products (a second instance later), orders and the gateway on free loopback ports.
/// No process is given another's URL: they find each other in the registry.
struct Layout {
  shop::testing::TempDir dir;
  std::filesystem::path secrets = WriteOrdersSecret(dir / "secrets");
  shop::testing::NatsServer nats{dir.path()};
  std::unique_ptr<ServiceProcess> users, products, products2, orders, gateway;
  std::unique_ptr<shop::http::Client> client;  // the gateway
  std::map<std::uint16_t, std::unique_ptr<shop::http::Client>> direct;  // by port

  Layout() {
    nats.Start();
    const auto bin = ServiceProcess::BinDir();
    const std::pair<std::string, std::string> platform{"SHOP_NATS_URL", nats.url()};
    users = std::make_unique<ServiceProcess>(ServiceProcess::Options{
        bin / "shop-users",
        {"--port", "{port}", "--data-dir", (dir / "users").string(), "--threads", "2", "--service-credentials-dir",
         secrets.string()},
        {{"SHOP_ADMIN_EMAIL", kAdminEmail}, {"SHOP_ADMIN_PASSWORD", kAdminPassword}, platform},
        dir / "users.log"});
    users->Start();
    // Both products instances share one database (WAL), as run-local.sh --replicas does it.
    auto make_products = [&](const std::string& log) {
      return std::make_unique<ServiceProcess>(ServiceProcess::Options{
          bin / "shop-products",
          {"--port", "{port}", "--data-dir", (dir / "products").string(), "--threads", "2"},
          {platform},
          dir / log});
    };
    products = make_products("products.log");
    products2 = make_products("products2.log");
    products->Start();
    orders = std::make_unique<ServiceProcess>(ServiceProcess::Options{
        bin / "shop-orders",
        {"--port", "{port}", "--data-dir", (dir / "orders").string(), "--threads", "2"},
        {{"SHOP_SERVICE_SECRET_FILE", (secrets / "orders").string()}, platform},
        dir / "orders.log"});
    orders->Start();
    gateway = std::make_unique<ServiceProcess>(ServiceProcess::Options{
        bin / "shop-gateway", {"--port", "{port}", "--threads", "2"}, {platform}, dir / "gateway.log"});
    gateway->Start();
    client = TestClient(gateway->url());
  }

  /// With SHOP_TEST_KEEP_LOGS=DIR the processes' logs are copied there, for a look after a failure.
  ~Layout() {
    const char* keep = std::getenv("SHOP_TEST_KEEP_LOGS");
    if (!keep || !*keep) return;
    std::error_code ec;
    std::filesystem::create_directories(keep, ec);
    for (const auto& entry : std::filesystem::directory_iterator(dir.path(), ec)) {
      if (entry.path().extension() == ".log") {
        std::filesystem::copy_file(entry.path(), std::filesystem::path(keep) / entry.path().filename(),
                                   std::filesystem::copy_options::overwrite_existing, ec);
      }
    }
  }

  Reply Call(const std::string& method, const std::string& target, const std::string& token = {},
             const std::string& body = {}, const std::string& request_id = {}) {
    return ::Call(*client, method, target, token, body, request_id);
  }

  shop::http::Client& Direct(const ServiceProcess& p) {
    auto& c = direct[p.port()];
    if (!c) c = TestClient(p.url());
    return *c;
  }

  /// Every process running now, by name.
  std::vector<std::pair<std::string, ServiceProcess*>> Running() {
    std::vector<std::pair<std::string, ServiceProcess*>> out;
    for (auto [name, p] : std::initializer_list<std::pair<const char*, ServiceProcess*>>{
             {"users", users.get()},
             {"products", products.get()},
             {"products2", products2.get()},
             {"orders", orders.get()},
             {"gateway", gateway.get()}}) {
      if (p->running()) out.emplace_back(name, p);
    }
    return out;
  }

  std::filesystem::path LogOf(const std::string& name) { return dir / (name + ".log"); }
};

Layout& TheLayout() {
  static Layout layout;
  return layout;
}

struct Session {
  std::string admin, customer;
  std::int64_t product = 0;
  std::string version;  // the build's, as /health/ready reports it
};

Session& TheSession() {
  static Session session;
  return session;
}

std::string Token(Layout& l, const std::string& email, const std::string& password, json::value* body = nullptr) {
  Reply r = l.Call("POST", "/auth/token", {}, json::serialize(json::object{{"email", email}, {"password", password}}));
  REQUIRE(r.status == 200);
  if (body) *body = r.body;
  return std::string(r.body.at("access_token").as_string());
}

std::string ValueBody(const json::value& v) { return json::serialize(json::object{{"value", v}}); }

/// The value of `key` in a GET /admin/config answer; null when absent.
json::value ItemValue(const Reply& r, std::string_view key) {
  if (r.status != 200 || !r.body.is_object()) return nullptr;
  const auto* items = r.body.as_object().if_contains("items");
  if (!items || !items->is_array()) return nullptr;
  for (const auto& item : items->as_array()) {
    if (item.at("key").as_string() == key) return item.at("value");
  }
  return nullptr;
}

/// Polls GET /admin/config on every running process (each on its own port) until `key` shows
/// `expected`; returns, per process, the time from `since` until it did (absent: not within `deadline`).
std::map<std::string, double> AwaitEverywhere(Layout& l, const std::string& key, const json::value& expected,
                                              Clock::time_point since, milliseconds deadline = seconds(5)) {
  std::map<std::string, double> seen;
  auto running = l.Running();
  const auto until = since + deadline;
  while (seen.size() < running.size() && Clock::now() < until) {
    for (auto& [name, p] : running) {
      if (seen.contains(name)) continue;
      Reply r = Call(l.Direct(*p), "GET", "/admin/config", TheSession().admin);
      if (ItemValue(r, key) == expected) seen[name] = Ms(Clock::now() - since);
    }
    if (seen.size() < running.size()) Pause(2);
  }
  for (auto& [name, p] : running) {
    CAPTURE(name);
    CHECK_MESSAGE(seen.contains(name), key << " never showed " << json::serialize(expected) << " on " << name);
  }
  return seen;
}

/// PUT (or DELETE when `value` is null) through the gateway, then the time it took to show on every
/// process; checks each is within the contract's 1 s and prints the figures. Returns the max (ms).
double ChangeAndMeasure(Layout& l, const std::string& key, const json::value& value, const json::value& shown) {
  const auto start = Clock::now();
  Reply r = value.is_null() ? l.Call("DELETE", "/admin/config/" + key, TheSession().admin)
                            : l.Call("PUT", "/admin/config/" + key, TheSession().admin, ValueBody(value));
  REQUIRE(r.status == 200);
  CHECK(r.body.at("key").as_string() == key);
  CHECK(r.body.at("value") == shown);
  auto seen = AwaitEverywhere(l, key, shown, start);
  double max = 0;
  std::string detail;
  for (const auto& [name, ms] : seen) {
    CAPTURE(name);
    CHECK(ms < Ms(kPropagationBound));
    max = std::max(max, ms);
    detail += " " + name + "=" + std::to_string(static_cast<int>(ms)) + "ms";
  }
  MESSAGE(std::string(value.is_null() ? "DELETE " : "PUT ") << key << " = " << json::serialize(shown)
                                                  << ": max propagation " << max << " ms (from the request; the "
                                                  << "gateway answers first) per process:" << detail);
  return max;
}

/// Every process's GET /admin/config items, by process name.
std::map<std::string, json::value> ConfigEverywhere(Layout& l) {
  std::map<std::string, json::value> out;
  for (auto& [name, p] : l.Running()) {
    Reply r = Call(l.Direct(*p), "GET", "/admin/config", TheSession().admin);
    REQUIRE(r.status == 200);
    out[name] = r.body.at("items");
  }
  return out;
}

/// `items` without the item of `key`.
json::value Without(json::value items, std::string_view key) {
  json::array kept;
  for (const auto& item : items.as_array()) {
    if (item.at("key").as_string() != key) kept.push_back(item);
  }
  return kept;
}

std::string Base64UrlDecode(std::string_view in) {
  std::string out;
  int bits = 0;
  std::uint32_t acc = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-') v = 62;
    else if (c == '_') v = 63;
    else continue;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

json::object JwtClaims(const std::string& token) {
  const auto first = token.find('.');
  const auto second = token.find('.', first + 1);
  REQUIRE(first != std::string::npos);
  REQUIRE(second != std::string::npos);
  return json::parse(Base64UrlDecode(token.substr(first + 1, second - first - 1))).as_object();
}

/// The count of GET /products/{id} answered 200 in a process's /metrics.
std::int64_t ProductReads(Layout& l, const ServiceProcess& p) {
  shop::http::Request request;
  request.method = "GET";
  request.target = "/metrics";
  auto response = l.Direct(p).Send(std::move(request), false);
  if (!response || response->status != 200) return -1;
  const std::string needle = R"(shop_http_requests_total{method="GET",route="/products/{id}",status="200"} )";
  const auto at = response->body.find(needle);
  if (at == std::string::npos) return 0;
  return std::stoll(response->body.substr(at + needle.size()));
}

/// A thread reading one product through the gateway in a loop, keeping each answer's status and
/// the moment it came.
class ReadLoad {
 public:
  struct Sample {
    Clock::time_point at;
    int status;
  };

  ReadLoad(const std::string& gateway_url, std::int64_t product)
      : client_(TestClient(gateway_url)), target_("/products/" + std::to_string(product)) {
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        shop::http::Request request;
        request.method = "GET";
        request.target = target_;
        auto response = client_->Send(std::move(request), false);
        {
          std::lock_guard lock(mu_);
          samples_.push_back({Clock::now(), response ? response->status : 0});
        }
        Pause(3);  // pacing: ~200 requests a second on a shared machine
      }
    });
  }
  ~ReadLoad() { Stop(); }

  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

  std::vector<Sample> Samples() const {
    std::lock_guard lock(mu_);
    return samples_;
  }

  /// Waits until an answer came at or after `t`; false when none by `deadline`.
  bool AwaitAnswerAfter(Clock::time_point t, Clock::time_point deadline) const {
    while (Clock::now() < deadline) {
      {
        std::lock_guard lock(mu_);
        if (!samples_.empty() && samples_.back().at >= t) return true;
      }
      Pause(10);
    }
    return false;
  }

 private:
  std::unique_ptr<shop::http::Client> client_;
  std::string target_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<Sample> samples_;
  std::thread thread_;
};

/// An instance that exists only in the registry: an entry written to shop_registry every 250 ms by
/// a test thread (as a live instance heartbeats), pointing at a listener owned by the test that
/// counts the connections it gets and never answers.
class FakeInstance {
 public:
  FakeInstance(const std::string& nats_url, std::string service, std::string instance, std::string version)
      : key_(service + "." + instance) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listen_fd_, 64) == 0);
    REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    value_ = json::serialize(json::object{{"service", service},
                                          {"instance", instance},
                                          {"version", version},
                                          {"url", "http://127.0.0.1:" + std::to_string(port_)},
                                          {"started_at", "2024-01-01T00:00:00Z"}});
    listener_ = std::thread([this] {
      std::vector<int> held;  // never answered, closed at the end
      while (!stopping()) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) == 1) {
          const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
          if (fd >= 0) {
            connections_.fetch_add(1);
            held.push_back(fd);
          }
        }
      }
      for (int fd : held) ::close(fd);
    });
    connection_ = std::make_unique<shop::nats::Connection>(nats_url, "platform-test");
    bucket_ = std::make_unique<shop::nats::KeyValue>(
        *connection_, shop::nats::BucketOptions{.name = "shop_registry", .history = 1, .max_age = seconds(60)});
    REQUIRE(bucket_->Put(key_, value_));
    heartbeat_ = std::thread([this] {
      std::unique_lock lock(mu_);
      while (!cv_.wait_for(lock, milliseconds(250), [this] { return stop_; })) {
        lock.unlock();
        bucket_->Put(key_, value_);
        lock.lock();
      }
    });
  }

  ~FakeInstance() { Stop(); }

  /// Stops the heartbeats, deletes the entry (it leaves the registry) and closes the listener.
  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      stop_ = true;
    }
    cv_.notify_all();
    heartbeat_.join();
    listener_.join();
    bucket_->Delete(key_);
    ::close(listen_fd_);
  }

  int connections() const { return connections_.load(); }
  std::uint16_t port() const { return port_; }

 private:
  bool stopping() {
    std::lock_guard lock(mu_);
    return stop_;
  }

  std::string key_, value_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  std::unique_ptr<shop::nats::Connection> connection_;
  std::unique_ptr<shop::nats::KeyValue> bucket_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread listener_, heartbeat_;
};

/// GET /admin/services on `client`, as service name -> instances.
std::map<std::string, json::array> ServicesOn(shop::http::Client& client) {
  Reply r = Call(client, "GET", "/admin/services", TheSession().admin);
  std::map<std::string, json::array> out;
  if (r.status != 200) return out;
  for (const auto& s : r.body.at("services").as_array()) {
    out[std::string(s.at("name").as_string())] = s.at("instances").as_array();
  }
  return out;
}

/// The instances of `service` that GET /admin/services on `client` lists (a copy: safe in a range-for).
json::array InstancesOf(shop::http::Client& client, const std::string& service) {
  auto services = ServicesOn(client);
  auto it = services.find(service);
  return it == services.end() ? json::array() : it->second;
}

/// service name -> sorted URLs of the running processes.
std::map<std::string, std::vector<std::string>> ExpectedUrls(Layout& l) {
  std::map<std::string, std::vector<std::string>> out;
  for (auto& [name, p] : l.Running()) out[name == "products2" ? "products" : name].push_back(p->url());
  for (auto& [name, urls] : out) std::ranges::sort(urls);
  return out;
}

std::map<std::string, std::vector<std::string>> ListedUrls(const std::map<std::string, json::array>& services) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [name, instances] : services) {
    for (const auto& i : instances) out[name].push_back(std::string(i.at("url").as_string()));
    std::ranges::sort(out[name]);
  }
  return out;
}

/// `t` as RFC 3339 UTC with milliseconds, the form of `last_seen`: such strings order as times do.
std::string Rfc3339Millis(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return text;
}

/// True when `services` lists exactly the URLs of `expected`, each with a heartbeat seen at or
/// after `seen_after` (RFC 3339 millis; empty: any).
bool Lists(const std::map<std::string, json::array>& services,
           const std::map<std::string, std::vector<std::string>>& expected, const std::string& seen_after) {
  if (ListedUrls(services) != expected) return false;
  for (const auto& [name, instances] : services) {
    for (const auto& i : instances) {
      if (std::string_view(i.at("last_seen").as_string()) < seen_after) return false;
    }
  }
  return true;
}

/// Polls every running process's GET /admin/services until each lists exactly the running
/// processes (with heartbeats seen since `seen_after` when given: proof that its view is being
/// updated); returns the time from `since` it took, or -1 when not all did by `since + deadline`.
/// Looks at least once, even past the deadline.
double AwaitDirectoryEverywhere(Layout& l, Clock::time_point since, milliseconds deadline,
                                std::optional<std::chrono::system_clock::time_point> seen_after = std::nullopt) {
  const auto expected = ExpectedUrls(l);
  const std::string after = seen_after ? Rfc3339Millis(*seen_after) : std::string();
  const auto until = since + deadline;
  std::set<std::string> done;
  auto running = l.Running();
  while (true) {
    for (auto& [name, p] : running) {
      if (!done.contains(name) && Lists(ServicesOn(l.Direct(*p)), expected, after)) done.insert(name);
    }
    if (done.size() == running.size()) {
      const double took = Ms(Clock::now() - since);
      return took <= Ms(deadline) ? took : -1;
    }
    if (Clock::now() >= until) break;
    Pause(20);
  }
  for (auto& [name, p] : running) {
    CAPTURE(name);
    CHECK(done.contains(name));
  }
  return -1;
}

std::string OrderBody(std::int64_t product, int quantity) {
  return R"({"items":[{"product_id":)" + std::to_string(product) + R"(,"quantity":)" + std::to_string(quantity) +
         "}]}";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Configuration

TEST_CASE("the admin API wants an admin token: 401 without one, 403 with a customer's") {
  Layout& l = TheLayout();
  Session& s = TheSession();
  REQUIRE(l.Call("POST", "/users", {},
                 json::serialize(json::object{{"email", kCustomerEmail}, {"password", kCustomerPassword}, {"name", "C"}}))
              .status == 201);
  s.customer = Token(l, kCustomerEmail, kCustomerPassword);
  s.admin = Token(l, kAdminEmail, kAdminPassword);
  Reply product = l.Call("POST", "/products", s.admin, R"({"sku":"platform-1","name":"Platform","price_cents":100,"stock":100000})");
  REQUIRE(product.status == 201);
  s.product = product.body.at("id").as_int64();
  Reply ready = Call(l.Direct(*l.gateway), "GET", "/health/ready");
  REQUIRE(ready.status == 200);
  s.version = std::string(ready.body.at("version").as_string());

  const auto before = ConfigEverywhere(l);
  for (const auto& [method, target, body] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"GET", "/admin/config", ""},
           {"PUT", "/admin/config/log.level", R"({"value":"error"})"},
           {"DELETE", "/admin/config/log.level", ""},
           {"GET", "/admin/services", ""},
           {"GET", "/admin/services/prometheus", ""}}) {
    CAPTURE(method);
    CAPTURE(target);
    Reply anonymous = l.Call(method, target, {}, body);
    CHECK(anonymous.status == 401);
    CHECK(Code(anonymous) == "unauthenticated");
    Reply customer = l.Call(method, target, s.customer, body);
    CHECK(customer.status == 403);
    CHECK(Code(customer) == "forbidden");
    Reply garbage = l.Call(method, target, "not-a-token", body);
    CHECK(garbage.status == 401);
  }
  // The admin token opens it.
  CHECK(l.Call("GET", "/admin/config", s.admin).status == 200);
  CHECK(l.Call("GET", "/admin/services", s.admin).status == 200);
  // A refused PUT changed nothing (a later case proves "nowhere" with a sentinel write).
  CHECK(ConfigEverywhere(l) == before);
}

TEST_CASE("GET /admin/config: every key of the contract, sorted, with value, default and updated_at, on every process") {
  Layout& l = TheLayout();
  const std::vector<std::pair<std::string, json::value>> defaults{
      {"auth.token_ttl_seconds", 3600}, {"client.breaker.failures", 5}, {"client.timeout_ms", 3000},
      {"edge.rate_limit.burst", 100},   {"edge.rate_limit.rps", 0},     {"log.level", "info"}};
  for (auto& [name, items] : ConfigEverywhere(l)) {
    CAPTURE(name);
    const auto& a = items.as_array();
    REQUIRE(a.size() == defaults.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      const auto& item = a[i].as_object();
      CHECK(item.at("key").as_string() == defaults[i].first);
      CHECK(item.at("value") == defaults[i].second);
      CHECK(item.at("default") == defaults[i].second);
      CHECK(item.at("updated_at").is_null());
    }
  }
}

TEST_CASE("PUT /admin/config/{key} through the gateway reaches every process within 1 s, without a restart") {
  Layout& l = TheLayout();
  const std::vector<std::pair<std::string, json::value>> changes{{"log.level", "warn"},
                                                                 {"auth.token_ttl_seconds", 120},
                                                                 {"client.timeout_ms", 2500},
                                                                 {"edge.rate_limit.rps", 123456.5}};
  for (const auto& [key, value] : changes) {
    CAPTURE(key);
    const double max = ChangeAndMeasure(l, key, value, value);
    CHECK(max < Ms(kPropagationBound));
    // The item as the gateway now lists it: the new value, its default, and when it was set.
    Reply all = l.Call("GET", "/admin/config", TheSession().admin);
    for (const auto& item : all.body.at("items").as_array()) {
      if (item.at("key").as_string() != key) continue;
      CHECK(item.at("value") == value);
      CHECK(item.at("updated_at").is_string());
    }
  }
}

TEST_CASE("DELETE /admin/config/{key} answers the item at its default with updated_at null, everywhere within 1 s") {
  Layout& l = TheLayout();
  const std::vector<std::pair<std::string, json::value>> defaults{{"log.level", "info"},
                                                                  {"auth.token_ttl_seconds", 3600},
                                                                  {"client.timeout_ms", 3000},
                                                                  {"edge.rate_limit.rps", 0}};
  for (const auto& [key, value] : defaults) {
    CAPTURE(key);
    Reply deleted = l.Call("DELETE", "/admin/config/" + key, TheSession().admin);
    REQUIRE(deleted.status == 200);
    CHECK(deleted.body.at("key").as_string() == key);
    CHECK(deleted.body.at("value") == value);
    CHECK(deleted.body.at("default") == value);
    CHECK(deleted.body.at("updated_at").is_null());
    const auto start = Clock::now();
    auto seen = AwaitEverywhere(l, key, value, start);
    double max = 0;
    for (const auto& [name, ms] : seen) max = std::max(max, ms);
    CHECK(max < Ms(kPropagationBound));
    MESSAGE("DELETE " << key << ": back at the default on every process within " << max
                      << " ms of the gateway's answer");
  }
  // Nothing central is left: every process is where it started.
  for (auto& [name, items] : ConfigEverywhere(l)) {
    CAPTURE(name);
    for (const auto& item : items.as_array()) CHECK(item.at("updated_at").is_null());
  }
  // Deleting a key at its default is fine too.
  CHECK(l.Call("DELETE", "/admin/config/log.level", TheSession().admin).status == 200);
}

TEST_CASE("concurrent changes of one key, through several processes, end with one value everywhere") {
  Layout& l = TheLayout();
  const std::string key = "edge.rate_limit.burst";
  auto running = l.Running();
  for (int round = 0; round < 5; ++round) {
    // One PUT per process at once (each process serves the admin API), each with its own value.
    std::vector<std::thread> writers;
    std::vector<int> statuses(running.size());
    for (std::size_t i = 0; i < running.size(); ++i) {
      writers.emplace_back([&, i] {
        auto client = TestClient(running[i].second->url());
        statuses[i] = Call(*client, "PUT", "/admin/config/" + key, TheSession().admin,
                           ValueBody(json::value(1000 + round * 10 + static_cast<int>(i))))
                          .status;
      });
    }
    for (auto& w : writers) w.join();
    for (int status : statuses) REQUIRE(status == 200);
    // Every process ends on the same value (the bucket's last write) within 1 s.
    const auto until = Clock::now() + std::chrono::seconds(1);
    std::set<std::string> values;
    do {
      values.clear();
      for (auto& [name, p] : running) {
        values.insert(json::serialize(ItemValue(Call(l.Direct(*p), "GET", "/admin/config", TheSession().admin), key)));
      }
    } while (values.size() != 1 && Clock::now() < until);
    CAPTURE(round);
    CHECK(values.size() == 1);
  }
  // Back to the default everywhere before the next case reads the configuration.
  ChangeAndMeasure(l, key, nullptr, 100);
}

TEST_CASE("auth.token_ttl_seconds=120: tokens issued from then on live 120 s (expires_in, exp - iat)") {
  Layout& l = TheLayout();
  ChangeAndMeasure(l, "auth.token_ttl_seconds", 120, 120);
  json::value body;
  const std::string token = Token(l, kCustomerEmail, kCustomerPassword, &body);
  CHECK(body.at("expires_in") == json::value(120));
  const auto claims = JwtClaims(token);
  CHECK(claims.at("exp").as_int64() - claims.at("iat").as_int64() == 120);

  ChangeAndMeasure(l, "auth.token_ttl_seconds", nullptr, 3600);
  const std::string again = Token(l, kCustomerEmail, kCustomerPassword, &body);
  CHECK(body.at("expires_in") == json::value(3600));
  const auto claims_again = JwtClaims(again);
  CHECK(claims_again.at("exp").as_int64() - claims_again.at("iat").as_int64() == 3600);
}

TEST_CASE("log.level=error stops the request lines while requests go on; info brings them back") {
  Layout& l = TheLayout();
  Session& s = TheSession();
  const std::string target = "/products/" + std::to_string(s.product);
  ChangeAndMeasure(l, "log.level", "error", "error");

  std::vector<std::string> quiet;
  for (int i = 0; i < 10; ++i) {
    quiet.push_back(UniqueId("quiet"));
    CHECK(l.Call("GET", target, {}, {}, quiet.back()).status == 200);
  }
  const auto last_quiet = Clock::now();

  ChangeAndMeasure(l, "log.level", "info", "info");
  const std::string loud = UniqueId("loud");
  CHECK(l.Call("GET", target, {}, {}, loud).status == 200);

  // The line of the request made at info shows in both logs (lines are flushed every 200 ms)...
  const auto until = Clock::now() + seconds(5);
  auto has = [](const std::string& log, const std::string& id) {
    return log.find("\"request_id\":\"" + id + "\"") != std::string::npos;
  };
  bool found = false;
  while (!found && Clock::now() < until) {
    found = has(ReadFile(l.LogOf("gateway")), loud) && has(ReadFile(l.LogOf("products")), loud);
    if (!found) Pause(20);
  }
  CHECK_MESSAGE(found, "no request line for " << loud << " after log.level went back to info");
  // ... and none of those made at error does, even after every buffer was flushed (200 ms, here 1 s).
  do {
    for (const std::string name : {"gateway", "products"}) {
      const std::string log = ReadFile(l.LogOf(name));
      for (const std::string& id : quiet) {
        CAPTURE(name);
        REQUIRE_FALSE(has(log, id));
      }
    }
    Pause(50);
  } while (Clock::now() < last_quiet + seconds(1));
  ChangeAndMeasure(l, "log.level", nullptr, "info");
}

TEST_CASE("client.timeout_ms bounds the gateway's calls: a products instance that never answers costs 200 ms, then 1.5 s") {
  Layout& l = TheLayout();
  Session& s = TheSession();
  const std::string target = "/products/" + std::to_string(s.product);
  // The breaker stays out of it: every call to the silent instance is tried.
  ChangeAndMeasure(l, "client.breaker.failures", 1000, 1000);
  // 200 ms, not the minimum 50: the real instance must answer within it on a busy machine.
  ChangeAndMeasure(l, "client.timeout_ms", 200, 200);
  // A compatible products instance (this build's version) at a listener that never answers.
  FakeInstance silent(l.nats.url(), "products", "silent-1", s.version);
  const auto until = Clock::now() + seconds(5);
  bool listed = false;
  while (!listed && Clock::now() < until) {
    for (const auto& i : InstancesOf(*l.client, "products")) listed = listed || i.at("id").as_string() == "silent-1";
    if (!listed) Pause(20);
  }
  REQUIRE(listed);

  // Reads go round robin over products and the silent one; a read that meets the silent one first
  // waits client.timeout_ms there, then is retried on products. Retries move the round robin on
  // too, so one read in two at least meets the silent one first.
  double slowest = 0;
  for (int i = 0; i < 4; ++i) {
    const auto start = Clock::now();
    CHECK(l.Call("GET", target).status == 200);
    slowest = std::max(slowest, Ms(Clock::now() - start));
  }
  CHECK(silent.connections() > 0);
  CHECK(slowest >= 190);
  CHECK(slowest < 1000);  // with 3000 it would be 3 s
  MESSAGE("client.timeout_ms=200: slowest read " << slowest << " ms");

  ChangeAndMeasure(l, "client.timeout_ms", 1500, 1500);
  slowest = 0;
  for (int i = 0; i < 2; ++i) {
    const auto start = Clock::now();
    CHECK(l.Call("GET", target).status == 200);
    slowest = std::max(slowest, Ms(Clock::now() - start));
  }
  CHECK(slowest >= 1450);
  CHECK(slowest < 3000);
  MESSAGE("client.timeout_ms=1500: slowest read " << slowest << " ms");

  silent.Stop();
  // Back to the defaults everywhere before the next case reads the configuration (a DELETE's answer
  // comes before every process applied it: the next case once saw the old values on products).
  ChangeAndMeasure(l, "client.timeout_ms", nullptr, 3000);
  ChangeAndMeasure(l, "client.breaker.failures", nullptr, 5);
  const auto gone_until = Clock::now() + seconds(5);
  bool gone = false;
  while (!gone && Clock::now() < gone_until) {
    gone = InstancesOf(*l.client, "products").size() == 1;
    if (!gone) Pause(20);
  }
  CHECK(gone);
}

TEST_CASE("bad values are refused with 400 validation_failed and change nothing anywhere; unknown keys 404") {
  Layout& l = TheLayout();
  Session& s = TheSession();
  const auto before = ConfigEverywhere(l);
  const std::vector<std::pair<std::string, std::string>> bad{
      {"log.level", R"({"value":"verbose"})"},
      {"log.level", R"({"value":5})"},
      {"log.level", R"({"value":true})"},
      {"log.level", R"({"value":null})"},
      {"log.level", R"({"value":["error"]})"},
      {"auth.token_ttl_seconds", R"({"value":"120"})"},
      {"auth.token_ttl_seconds", R"({"value":1.5})"},
      {"auth.token_ttl_seconds", R"({"value":120.5})"},
      {"auth.token_ttl_seconds", R"({"value":true})"},
      {"auth.token_ttl_seconds", R"({"value":59})"},
      {"auth.token_ttl_seconds", R"({"value":86401})"},
      {"auth.token_ttl_seconds", R"({"value":-120})"},
      {"auth.token_ttl_seconds", R"({"value":18446744073709551615})"},
      {"client.timeout_ms", R"({"value":49})"},
      {"client.timeout_ms", R"({"value":60001})"},
      {"client.timeout_ms", R"({"value":"100"})"},
      {"client.breaker.failures", R"({"value":0})"},
      {"client.breaker.failures", R"({"value":1001})"},
      {"edge.rate_limit.burst", R"({"value":0})"},
      {"edge.rate_limit.burst", R"({"value":2.5})"},
      {"edge.rate_limit.rps", R"({"value":-1})"},
      {"edge.rate_limit.rps", R"({"value":1000000.5})"},
      {"edge.rate_limit.rps", R"({"value":"5"})"},
      {"edge.rate_limit.rps", R"({"value":false})"},
      {"edge.rate_limit.rps", R"({"value":{}})"},
      {"client.timeout_ms", R"({})"},
      {"client.timeout_ms", R"({"value":100,"other":1})"},
      {"client.timeout_ms", R"({"val":100})"},
      {"client.timeout_ms", R"(100)"},
  };
  for (const auto& [key, body] : bad) {
    CAPTURE(key);
    CAPTURE(body);
    Reply r = l.Call("PUT", "/admin/config/" + key, s.admin, body);
    CHECK(r.status == 400);
    CHECK(Code(r) == "validation_failed");
  }
  for (const std::string key : {"log.levels", "nope", "log", "auth.token_ttl"}) {
    CAPTURE(key);
    Reply put = l.Call("PUT", "/admin/config/" + key, s.admin, R"({"value":1})");
    CHECK(put.status == 404);
    CHECK(Code(put) == "not_found");
    Reply del = l.Call("DELETE", "/admin/config/" + key, s.admin);
    CHECK(del.status == 404);
    CHECK(Code(del) == "not_found");
  }
  // Boundaries are valid: 60 and 86400 for the token lifetime.
  CHECK(l.Call("PUT", "/admin/config/auth.token_ttl_seconds", s.admin, R"({"value":60})").status == 200);
  CHECK(l.Call("PUT", "/admin/config/auth.token_ttl_seconds", s.admin, R"({"value":86400})").status == 200);
  CHECK(l.Call("DELETE", "/admin/config/auth.token_ttl_seconds", s.admin).status == 200);
  // A sentinel written after the refused ones: changes reach each process in order, so once it shows
  // everywhere, anything the refused requests had written would show too.
  ChangeAndMeasure(l, "edge.rate_limit.burst", 123, 123);
  ChangeAndMeasure(l, "auth.token_ttl_seconds", nullptr, 3600);
  const auto after = ConfigEverywhere(l);
  for (const auto& [name, items] : before) {
    CAPTURE(name);
    CHECK(Without(after.at(name), "edge.rate_limit.burst") == Without(items, "edge.rate_limit.burst"));
  }
  ChangeAndMeasure(l, "edge.rate_limit.burst", nullptr, 100);
}

TEST_CASE("a central value survives restarting a process: it is in force before the process reports ready") {
  Layout& l = TheLayout();
  ChangeAndMeasure(l, "client.breaker.failures", 7, 7);
  ChangeAndMeasure(l, "edge.rate_limit.burst", 250, 250);
  REQUIRE(l.products->Stop() == 0);
  l.products->Start();  // returns as soon as /health/ready answers 200
  Reply r = Call(l.Direct(*l.products), "GET", "/admin/config", TheSession().admin);
  REQUIRE(r.status == 200);
  CHECK(ItemValue(r, "client.breaker.failures") == json::value(7));
  CHECK(ItemValue(r, "edge.rate_limit.burst") == json::value(250));
  for (const auto& item : r.body.at("items").as_array()) {
    if (item.at("key").as_string() == "client.breaker.failures" || item.at("key").as_string() == "edge.rate_limit.burst") {
      CHECK(item.at("updated_at").is_string());
    }
  }
  // The restarted instance serves through the gateway again (it registered under a new id).
  CHECK(AwaitDirectoryEverywhere(l, Clock::now(), seconds(5)) >= 0);
  CHECK(l.Call("GET", "/products/" + std::to_string(TheSession().product)).status == 200);
}

TEST_CASE("central values survive restarting NATS; a PUT while it is down is 503 and changes nothing") {
  Layout& l = TheLayout();
  Session& s = TheSession();
  REQUIRE(l.nats.Stop() != -1);  // nats-server exits 1 on SIGTERM; -1 would be a timeout
  Reply refused = l.Call("PUT", "/admin/config/client.timeout_ms", s.admin, R"({"value":777})");
  CHECK(refused.status == 503);
  CHECK(Code(refused) == "dependency_unavailable");
  Reply refused_delete = l.Call("DELETE", "/admin/config/edge.rate_limit.burst", s.admin);
  CHECK(refused_delete.status == 503);
  // Cut from NATS, every process keeps the values in force.
  for (auto& [name, items] : ConfigEverywhere(l)) {
    CAPTURE(name);
    Reply r{200, json::object{{"items", items}}};
    CHECK(ItemValue(r, "client.breaker.failures") == json::value(7));
    CHECK(ItemValue(r, "edge.rate_limit.burst") == json::value(250));
    CHECK(ItemValue(r, "client.timeout_ms") == json::value(3000));
  }

  l.nats.Start();
  const auto restarted = Clock::now();
  // Every process sees every instance's heartbeats again: connected, its view re-read.
  const double back = AwaitDirectoryEverywhere(l, restarted, seconds(10), std::chrono::system_clock::now());
  CHECK(back >= 0);
  MESSAGE("NATS restarted: every process sees every instance's heartbeat again after " << back << " ms");
  // A new change reaches every process within 1 s again ...
  ChangeAndMeasure(l, "log.level", "warn", "warn");
  // ... and the values set before the restart were kept by NATS: every process re-read the bucket
  // on reconnecting (before that change reached it), and they are still in force.
  for (auto& [name, items] : ConfigEverywhere(l)) {
    CAPTURE(name);
    Reply r{200, json::object{{"items", items}}};
    CHECK(ItemValue(r, "client.breaker.failures") == json::value(7));
    CHECK(ItemValue(r, "edge.rate_limit.burst") == json::value(250));
    CHECK(ItemValue(r, "client.timeout_ms") == json::value(3000));  // the refused PUT never landed
  }
  ChangeAndMeasure(l, "log.level", nullptr, "info");
}

// ---------------------------------------------------------------------------------------------
// Discovery

TEST_CASE("a new products instance on another port takes traffic within 1 s of becoming ready") {
  Layout& l = TheLayout();
  ReadLoad load(l.gateway->url(), TheSession().product);
  REQUIRE(load.AwaitAnswerAfter(Clock::now(), Clock::now() + seconds(5)));
  l.products2->Start();
  const auto ready = Clock::now();
  double took = -1;
  while (Clock::now() < ready + seconds(5)) {
    if (ProductReads(l, *l.products2) > 0) {
      took = Ms(Clock::now() - ready);
      break;
    }
    Pause(5);
  }
  CHECK(took >= 0);
  CHECK(took < Ms(kPropagationBound));
  MESSAGE("new products instance: first read served " << took << " ms after it was ready");
  load.Stop();
  for (const auto& sample : load.Samples()) CHECK(sample.status == 200);
}

TEST_CASE("GET /admin/services lists every instance with its fields; the Prometheus SD one target group each") {
  Layout& l = TheLayout();
  Session& s = TheSession();
  REQUIRE(AwaitDirectoryEverywhere(l, Clock::now(), seconds(5)) >= 0);
  auto services = ServicesOn(*l.client);
  CHECK(services.size() == 4);
  CHECK(services["users"].size() == 1);
  CHECK(services["products"].size() == 2);
  CHECK(services["orders"].size() == 1);
  CHECK(services["gateway"].size() == 1);
  std::set<std::string> ids;
  std::set<std::pair<std::string, std::string>> expected_targets;
  for (const auto& [name, instances] : services) {
    for (const auto& i : instances) {
      CAPTURE(name);
      const auto& o = i.as_object();
      CHECK(std::string_view(o.at("id").as_string()).starts_with(name + "-"));
      ids.insert(std::string(o.at("id").as_string()));
      CHECK(o.at("version").as_string() == s.version);
      CHECK(o.at("compatible") == json::value(true));
      CHECK(o.at("started_at").as_string().size() == 20);  // 2024-01-01T00:00:00Z
      CHECK(o.at("last_seen").is_string());
      const std::string url(o.at("url").as_string());
      CHECK(url.starts_with("http://127.0.0.1:"));
      expected_targets.emplace(name, url.substr(7));
    }
  }
  CHECK(ids.size() == 5);
  Reply sd = l.Call("GET", "/admin/services/prometheus", s.admin);
  REQUIRE(sd.status == 200);
  REQUIRE(sd.body.is_array());
  std::set<std::pair<std::string, std::string>> targets;
  std::set<std::string> sd_ids;
  for (const auto& group : sd.body.as_array()) {
    const auto& t = group.at("targets").as_array();
    REQUIRE(t.size() == 1);
    const auto& labels = group.at("labels").as_object();
    targets.emplace(std::string(labels.at("service").as_string()), std::string(t[0].as_string()));
    sd_ids.insert(std::string(labels.at("instance").as_string()));
    CHECK(labels.at("version").as_string() == s.version);
  }
  CHECK(sd.body.as_array().size() == 5);
  CHECK(targets == expected_targets);
  CHECK(sd_ids == ids);
}

TEST_CASE("kill -9 of one of two products instances under load: failures stop within 1 s, none after") {
  Layout& l = TheLayout();
  ReadLoad load(l.gateway->url(), TheSession().product);
  REQUIRE(load.AwaitAnswerAfter(Clock::now() + milliseconds(300), Clock::now() + seconds(5)));
  const auto killed = Clock::now();
  l.products->Stop(SIGKILL);
  // The dead instance leaves every process's view (the contract's window is 3 s) ...
  const double left = AwaitDirectoryEverywhere(l, killed, seconds(3));
  CHECK(left >= 0);
  MESSAGE("kill -9: the dead instance left every process's view after " << left << " ms");
  // ... and reads go on well past that window.
  REQUIRE(load.AwaitAnswerAfter(killed + milliseconds(3500), killed + seconds(15)));
  load.Stop();
  int failures = 0, after_kill = 0;
  double last_failure = -1;
  for (const auto& sample : load.Samples()) {
    if (sample.at < killed) {
      CHECK(sample.status == 200);
      continue;
    }
    ++after_kill;
    if (sample.status != 200) {
      ++failures;
      last_failure = Ms(sample.at - killed);
    }
  }
  CHECK(last_failure < Ms(kPropagationBound));
  MESSAGE("kill -9 under load: " << failures << " failed reads of " << after_kill << " after the kill; last failure at "
                                 << last_failure << " ms after it (-1: none)");
}

TEST_CASE("an instance of another major version is listed as incompatible and never called") {
  Layout& l = TheLayout();
  Session& s = TheSession();
  FakeInstance v9(l.nats.url(), "products", "fake-v9", "9.0.0");
  const auto until = Clock::now() + seconds(5);
  bool listed = false;
  while (!listed && Clock::now() < until) {
    for (const auto& i : InstancesOf(*l.client, "products")) {
      if (i.at("id").as_string() == "fake-v9") {
        listed = true;
        CHECK(i.at("compatible") == json::value(false));
        CHECK(i.at("version").as_string() == "9.0.0");
        CHECK(i.at("url").as_string() == "http://127.0.0.1:" + std::to_string(v9.port()));
      }
    }
    if (!listed) Pause(20);
  }
  REQUIRE(listed);
  // Every process judges it the same (orders calls products; users does not, and judges by its own major),
  // once the registration has reached it: within the propagation bound of the gateway's seeing it.
  const auto reached_by = Clock::now() + kPropagationBound;
  for (auto& [name, p] : l.Running()) {
    CAPTURE(name);
    bool seen = false;
    while (!seen) {
      for (const auto& i : InstancesOf(l.Direct(*p), "products")) {
        if (i.at("id").as_string() != "fake-v9") continue;
        seen = true;
        CHECK(i.at("compatible") == json::value(false));
      }
      if (seen || Clock::now() >= reached_by) break;
      Pause(20);
    }
    CHECK(seen);
  }
  // Reads through the gateway, and orders placed (orders reserves stock at products), under load.
  ReadLoad load(l.gateway->url(), s.product);
  for (int i = 0; i < 5; ++i) CHECK(l.Call("POST", "/orders", s.customer, OrderBody(s.product, 1)).status == 201);
  REQUIRE(load.AwaitAnswerAfter(Clock::now() + seconds(2), Clock::now() + seconds(10)));
  load.Stop();
  int reads = 0;
  for (const auto& sample : load.Samples()) {
    CHECK(sample.status == 200);
    ++reads;
  }
  CHECK(v9.connections() == 0);
  MESSAGE("incompatible instance: " << v9.connections() << " connections during " << reads << " reads and 5 orders");
  v9.Stop();
}

TEST_CASE("NATS down under load: reads keep succeeding; back: every instance listed again, changes reach everyone") {
  Layout& l = TheLayout();
  ReadLoad load(l.gateway->url(), TheSession().product);
  REQUIRE(load.AwaitAnswerAfter(Clock::now() + milliseconds(300), Clock::now() + seconds(5)));
  const auto stopped = Clock::now();
  REQUIRE(l.nats.Stop() != -1);  // nats-server exits 1 on SIGTERM; -1 would be a timeout
  // Longer than the registry's liveness window (1 s): callers keep their last view meanwhile.
  REQUIRE(load.AwaitAnswerAfter(stopped + seconds(3), stopped + seconds(15)));
  l.nats.Start();
  const auto restarted = Clock::now();
  const double back = AwaitDirectoryEverywhere(l, restarted, seconds(10), std::chrono::system_clock::now());
  CHECK(back >= 0);
  REQUIRE(load.AwaitAnswerAfter(Clock::now() + seconds(1), Clock::now() + seconds(10)));
  load.Stop();
  int total = 0, while_down = 0, after_back = 0;
  double first = -1, last = -1;
  for (const auto& sample : load.Samples()) {
    ++total;
    if (sample.status == 200) continue;
    (sample.at < restarted ? while_down : after_back) += 1;
    if (first < 0) first = Ms(sample.at - stopped);
    last = Ms(sample.at - stopped);
  }
  CHECK(while_down == 0);
  CHECK(after_back == 0);
  MESSAGE("NATS outage under load (" << Ms(restarted - stopped) << " ms): " << while_down << " failed reads while down, "
                                     << after_back << " after it was back, of " << total << "; failures from " << first
                                     << " to " << last << " ms after the stop (-1: none); every process saw every "
                                     << "instance's heartbeat again " << back << " ms after the restart");
  const double max = ChangeAndMeasure(l, "client.timeout_ms", 2000, 2000);
  CHECK(max < Ms(kPropagationBound));
  // A process started after the restart gets the values kept by NATS before it is ready.
  l.products->Start();
  Reply r = Call(l.Direct(*l.products), "GET", "/admin/config", TheSession().admin);
  CHECK(ItemValue(r, "client.timeout_ms") == json::value(2000));
  CHECK(ItemValue(r, "client.breaker.failures") == json::value(7));
  CHECK(AwaitDirectoryEverywhere(l, Clock::now(), seconds(5)) >= 0);
  ChangeAndMeasure(l, "client.timeout_ms", nullptr, 3000);
}

// ---------------------------------------------------------------------------------------------
// Trace

TEST_CASE("one POST /orders with X-Request-Id: the gateway's, orders' and products' logs each have it") {
  Layout& l = TheLayout();
  Session& s = TheSession();
  const std::string id = UniqueId("trace");
  Reply placed = l.Call("POST", "/orders", s.customer, OrderBody(s.product, 1), id);
  REQUIRE(placed.status == 201);
  const std::string field = "\"request_id\":\"" + id + "\"";
  auto in = [&](const std::string& name) { return ReadFile(l.LogOf(name)).find(field) != std::string::npos; };
  const auto until = Clock::now() + seconds(5);
  bool gateway = false, orders = false, products = false;
  while (!(gateway && orders && products) && Clock::now() < until) {
    gateway = in("gateway");
    orders = in("orders");
    products = in("products") || in("products2");
    if (!(gateway && orders && products)) Pause(20);
  }
  CHECK(gateway);
  CHECK(orders);
  CHECK(products);
}

TEST_CASE("every process stops cleanly on SIGTERM") {
  Layout& l = TheLayout();
  ChangeAndMeasure(l, "client.breaker.failures", nullptr, 5);
  ChangeAndMeasure(l, "edge.rate_limit.burst", nullptr, 100);
  auto running = l.Running();
  std::ranges::reverse(running);  // the gateway first, users last
  for (auto& [name, p] : running) {
    CAPTURE(name);
    CHECK(p->Stop() == 0);
  }
}
