#include "shop/runtime/split.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <signal.h>

#include "shop/admin/admin.h"
#include "shop/core/time.h"
#include "shop/platform/log.h"
#include "shop/runtime/runtime.h"

namespace shop::runtime {
namespace {

/// Central values kept in this process only: the store of a process run without NATS.
class LocalStore final : public config::Store {
 public:
  explicit LocalStore(config::Config& config) : config_(config) {}
  std::map<std::string, config::CentralValue, std::less<>> LoadAll() override { return {}; }
  bool Put(std::string_view key, const config::CentralValue& value) override {
    std::lock_guard lock(mu_);  // applied in the order taken
    return config_.ApplyCentral(key, value);
  }
  bool Remove(std::string_view key) override {
    std::lock_guard lock(mu_);
    return config_.ApplyCentral(key, std::nullopt);
  }

 private:
  config::Config& config_;
  std::mutex mu_;
};

}  // namespace

void AddPlatformFlags(Flags& flags) {
  flags.Add("nats-url", "URL",
            "the NATS server (JetStream): registry, central configuration; `off`: run alone on static URLs",
            "nats://127.0.0.1:4222", "SHOP_NATS_URL");
  flags.Add("advertise-host", "HOST",
            "the host the other services reach this one at; default: --host, or this machine's name when that is 0.0.0.0",
            "", "SHOP_ADVERTISE_HOST");
  flags.Add("local-socket-dir", "DIR",
            "also serve on a Unix-domain socket in DIR (a private directory, made if missing), which callers on "
            "this host use instead of TCP; default: shop-<uid> in the temporary directory; `off`: TCP only",
            "", "SHOP_LOCAL_SOCKET_DIR");
}

namespace {

/// `<dir>/<service>-<pid>.sock` in a directory only this user can enter; empty (TCP only) when the
/// directory cannot be made so, belongs to someone else, or the path is too long for a socket address.
std::string LocalSocketPath(const std::string& flag, const std::string& service) {
  if (flag == "off") return {};
  std::string dir = flag;
  if (dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/shop-" + std::to_string(::getuid());
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return {};
  struct stat st {};
  // Another user's directory, or one others may write in, could hand callers someone else's socket.
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::getuid() || (st.st_mode & 077) != 0) {
    log::Write(log::Level::kWarn, "no local socket: its directory is not private to this user", {{"dir", dir}});
    return {};
  }
  // Sockets of processes that died without removing theirs (kill -9): `<service>-<pid>.sock` of a pid
  // that no longer exists.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const auto dash = name.rfind('-');
    if (dash == std::string::npos || !name.ends_with(".sock")) continue;
    int pid = 0;
    const char* first = name.data() + dash + 1;
    const char* last = name.data() + name.size() - 5;
    if (auto [end, err] = std::from_chars(first, last, pid); err != std::errc() || end != last || pid <= 0) continue;
    if (::kill(pid, 0) != 0 && errno == ESRCH) std::filesystem::remove(entry.path(), ec);
  }
  std::string path = dir + "/" + service + "-" + std::to_string(::getpid()) + ".sock";
  if (path.size() >= sizeof(sockaddr_un::sun_path)) return {};
  return path;
}

}  // namespace


SplitPlatform::SplitPlatform(const Flags& flags, std::string service, std::string version,
                             std::vector<nats::Dependency> dependencies)
    : service_(std::move(service)), version_(std::move(version)), config_(MakeConfig(flags)) {
  advertise_host_ = flags.Get("advertise-host");
  if (advertise_host_.empty()) advertise_host_ = flags.Get("host");
  if (advertise_host_ == "0.0.0.0" || advertise_host_ == "::") {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    advertise_host_ = name;
  }
  FollowLogLevel(*config_);
  config_->Subscribe([this](const config::Snapshot& s) {
    call_settings_.request_timeout_ms.store(s.settings.client_timeout.count(), std::memory_order_relaxed);
    call_settings_.breaker_failures.store(s.settings.breaker_failures, std::memory_order_relaxed);
  });
  const std::string& nats_url = flags.Get("nats-url");
  if (nats_url.empty() || nats_url == "off") {
    log::Write(log::Level::kWarn, "no --nats-url: configuration from flags only, dependencies by static URL");
    local_store_ = std::make_unique<LocalStore>(*config_);
    store_ = local_store_.get();
    self_ = std::make_unique<admin::SelfDirectory>(service_, version_);
    config_read_ = true;
    return;
  }
  // Only callers that find this process in the registry learn of its local socket.
  local_socket_ = LocalSocketPath(flags.Get("local-socket-dir"), service_);
  nats_ = std::make_unique<nats::Connection>(nats_url, "shop-" + service_);
  nats_store_ = std::make_unique<nats::ConfigStore>(*nats_, *config_);
  store_ = nats_store_.get();
  registry_ = std::make_unique<nats::Registry>(
      *nats_, std::move(dependencies), nats::MajorVersion(version_),
      nats::Registry::Options{.breaker_open_for = config_->Current()->settings.breaker_open_for});
  // Start with the central values when NATS is there; readiness waits for them otherwise.
  if (nats_store_->WaitSynced(std::chrono::seconds(2))) config_read_ = true;
  registry_->WaitSynced(std::chrono::milliseconds(500));
}

SplitPlatform::~SplitPlatform() {
  registry_.reset();  // deregisters first, while the connection is still up
  nats_store_.reset();
}

http::ClientOptions SplitPlatform::ClientOptionsFor(const std::string& service, const std::string& url) const {
  const config::Settings s = config_->Current()->settings;
  http::ClientOptions options{.name = service,
                              .connect_timeout = s.client_connect_timeout,
                              .request_timeout = s.client_timeout,
                              .max_attempts = s.client_max_attempts,
                              .backoff = s.client_backoff,
                              .breaker_failures = s.breaker_failures,
                              .breaker_open_for = s.breaker_open_for};
  options.settings = &call_settings_;
  if (!url.empty()) {
    options.base_url = url;
  } else if (!registry_) {
    throw std::invalid_argument("without --nats-url the " + service + " service needs its static URL (--" + service +
                                "-url)");
  } else {
    options.endpoints = &registry_->Endpoints(service);
  }
  return options;
}

void SplitPlatform::Mount(http::App& app, const auth::Verifier& verifier) {
  const admin::Directory& directory = registry_ ? static_cast<const admin::Directory&>(*registry_) : *self_;
  admin::AddRoutes(app, *config_, *store_, directory, verifier);
  ReportTokenCache(app, verifier);
  app.AddReadinessCheck("config", [this] {
    if (!config_read_.load(std::memory_order_relaxed) && nats_store_->synced()) config_read_ = true;
    return config_read_.load(std::memory_order_relaxed);
  });
}

void SplitPlatform::Listening(std::uint16_t port, const http::App& app) {
  const std::string url = "http://" + advertise_host_ + ":" + std::to_string(port);
  if (!registry_) {
    self_->SetUrl(url);
    return;
  }
  nats::SelfInfo self{.service = service_,
                      .instance = nats::NewInstanceId(service_),
                      .version = version_,
                      .url = url,
                      .started_at = FormatRfc3339(UnixNow()),
                      .local_socket = local_socket_};
  log::Write(log::Level::kInfo, "instance", {{"id", self.instance}, {"url", self.url}, {"version", self.version}});
  registry_->Register(std::move(self), [&app] { return app.Ready(); });
}

SplitEvents::SplitEvents(SplitPlatform& platform, std::string module, sql::Database& db,
                         std::vector<events::Subscription> subscriptions) {
  nats::Connection* connection = platform.nats();
  if (!connection) {
    log::Write(log::Level::kWarn, "events are not published without NATS: they wait in the outbox",
               {{"module", module}});
    return;
  }
  publisher_ = std::make_unique<nats::JetStreamPublisher>(*connection);
  if (!subscriptions.empty()) {
    subscriber_ = std::make_unique<nats::JetStreamSubscriber>(*connection);
    for (events::Subscription& s : subscriptions) subscriber_->Subscribe(std::move(s));
  }
  relays_.Add(std::move(module), db, *publisher_, "jetstream");
}

SplitEvents::~SplitEvents() = default;

void SplitEvents::Mount(http::App& app) { relays_.Mount(app, subscriber_.get()); }

}  // namespace shop::runtime
