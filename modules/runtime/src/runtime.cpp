#include "shop/runtime/runtime.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>

#include "shop/platform/log.h"
#include "shop/platform/metrics.h"

namespace shop::runtime {

void AddServerFlags(Flags& flags, std::string default_port) {
  flags.Add("host", "ADDR", "address to listen on", "127.0.0.1", "SHOP_HOST");
  flags.Add("port", "PORT", "TCP port to listen on (0: any free port)", std::move(default_port), "SHOP_PORT");
  flags.Add("threads", "N", "server threads; 0 means one per core", "0", "SHOP_THREADS");
  flags.Add("batch-scheduling", "on|off",
            "server threads as SCHED_BATCH: a thread woken by a request does not preempt the one running, so "
            "processes that share a core answer requests in batches",
            "on", "SHOP_BATCH_SCHEDULING");
  flags.Add("log-level", "LEVEL", "debug, info, warn or error", "info", "SHOP_LOG_LEVEL");
}

std::optional<int> Start(Flags& flags, int argc, char** argv, std::string_view service, std::string_view help_footer) {
  if (auto parsed = flags.Parse(argc, argv); !parsed) {
    std::cerr << service << ": " << parsed.error() << '\n';
    return 2;
  }
  if (flags.help_requested()) {
    std::cout << flags.Usage() << help_footer;
    return 0;
  }
  log::Level level{};
  if (!log::ParseLevel(flags.Get("log-level"), level)) {
    std::cerr << service << ": --log-level must be debug, info, warn or error\n";
    return 2;
  }
  log::Configure(std::string(service), level);
  return std::nullopt;
}

http::ServerOptions ServerOptionsFrom(const Flags& flags) {
  auto value = [&](std::string_view name, std::int64_t min, std::int64_t max) {
    auto v = flags.GetInt(name, min, max);
    if (!v) throw std::invalid_argument(v.error());
    return *v;
  };
  http::ServerOptions options;
  options.host = flags.Get("host");
  options.port = static_cast<std::uint16_t>(value("port", 0, 65535));
  options.threads = static_cast<int>(value("threads", 0, 1024));
  const std::string& batch = flags.Get("batch-scheduling");
  if (batch != "on" && batch != "off") throw std::invalid_argument("--batch-scheduling must be on or off");
  options.batch_scheduling = batch == "on";
  return options;
}

std::filesystem::path DataDir(const Flags& flags) {
  const std::filesystem::path dir = flags.Get("data-dir");
  std::filesystem::create_directories(dir);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace);
  return dir;
}

void AddDatabaseFlag(Flags& flags, std::string name, std::string env, std::string_view module, std::string_view file) {
  flags.Add(std::move(name), "URL",
            "where " + std::string(module) + "' data lives: empty for the SQLite file DATA_DIR/" + std::string(file) +
                ", or a PostgreSQL URI, e.g. postgresql://" + std::string(module) + "@HOST:5432/" + std::string(module) +
                "?passfile=FILE",
            "", std::move(env));
}

std::unique_ptr<sql::Database> OpenDatabase(const Flags& flags, std::string_view name,
                                            const std::filesystem::path& data_dir, std::string_view file,
                                            const sql::Migrations& migrations) {
  const std::string& url = flags.Get(name);
  auto db = sql::Database::Open({.path = url.empty() ? (data_dir / file).string() : url}, migrations);
  log::Write(log::Level::kInfo, "database open",
             {{"database", db->path()},
              {"dialect", db->dialect() == sql::Dialect::kPostgres ? "postgresql" : "sqlite"}});
  return db;
}

void AddTokenFlags(Flags& flags) {
  flags.Add("signing-key", "FILE",
            "Ed25519 private key (PEM) for tokens; default: DATA_DIR/jwt-ed25519.pem, made if missing", "",
            "SHOP_SIGNING_KEY");
}

auth::SigningKey SigningKeyFrom(const Flags& flags, const std::filesystem::path& data_dir) {
  const std::string& file = flags.Get("signing-key");
  return file.empty() ? auth::SigningKey::LoadOrCreate(data_dir / "jwt-ed25519.pem") : auth::SigningKey::Load(file);
}


AdminBootstrap AdminFromEnvironment() {
  AdminBootstrap admin;
  if (const char* email = std::getenv("SHOP_ADMIN_EMAIL")) admin.email = email;
  if (const char* password = std::getenv("SHOP_ADMIN_PASSWORD")) admin.password = password;
  return admin;
}

std::string ServiceSecretFromEnvironment() {
  const char* value = std::getenv("SHOP_SERVICE_SECRET");
  const char* file = std::getenv("SHOP_SERVICE_SECRET_FILE");
  if (value && file) throw std::runtime_error("set SHOP_SERVICE_SECRET or SHOP_SERVICE_SECRET_FILE, not both");
  std::string secret;
  if (value) {
    secret = value;
  } else if (file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error(std::string("cannot read SHOP_SERVICE_SECRET_FILE ") + file);
    secret.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (secret.ends_with('\n')) secret.pop_back();
  } else {
    throw std::runtime_error(
        "this service needs its client secret for service tokens: set SHOP_SERVICE_SECRET_FILE (or "
        "SHOP_SERVICE_SECRET)");
  }
  if (secret.empty()) throw std::runtime_error("the service's client secret is empty");
  return secret;
}

namespace {

/// The flag that sets each key's starting value.
struct ConfigFlag {
  std::string_view key;
  std::string_view flag;
  std::string_view env;
  std::string_view value_name;
};
constexpr ConfigFlag kConfigFlags[] = {
    {"log.level", "log-level", "SHOP_LOG_LEVEL", "LEVEL"},
    {"auth.token_ttl_seconds", "token-ttl", "SHOP_TOKEN_TTL", "SECONDS"},
    {"edge.rate_limit.rps", "rate-limit-rps", "SHOP_RATE_LIMIT_RPS", "N"},
    {"edge.rate_limit.burst", "rate-limit-burst", "SHOP_RATE_LIMIT_BURST", "N"},
    {"client.timeout_ms", "client-timeout-ms", "SHOP_CLIENT_TIMEOUT_MS", "MS"},
    {"client.breaker.failures", "breaker-failures", "SHOP_BREAKER_FAILURES", "N"},
    {"client.connect_timeout_ms", "client-connect-timeout-ms", "SHOP_CLIENT_CONNECT_TIMEOUT_MS", "MS"},
    {"client.max_attempts", "client-max-attempts", "SHOP_CLIENT_MAX_ATTEMPTS", "N"},
    {"client.backoff_ms", "client-backoff-ms", "SHOP_CLIENT_BACKOFF_MS", "MS"},
    {"client.breaker.open_ms", "breaker-open-ms", "SHOP_BREAKER_OPEN_MS", "MS"},
    {"orders.release_retry_ms", "release-retry-ms", "SHOP_RELEASE_RETRY_MS", "MS"},
    {"server.handler_threads", "handler-threads", "SHOP_HANDLER_THREADS", "N"},
};

}  // namespace

void AddConfigFlags(Flags& flags, const std::map<std::string, std::string, std::less<>>& process_defaults) {
  for (const ConfigFlag& f : kConfigFlags) {
    if (flags.Declared(f.flag)) continue;
    const config::KeySpec* spec = config::FindKey(f.key);
    const auto own = process_defaults.find(f.key);
    flags.Add(std::string(f.flag), std::string(f.value_name),
              std::string(spec->effect) + (spec->central ? " (starting value of " : " (") + std::string(f.key) + ")",
              own != process_defaults.end() ? own->second : config::ToJsonText(spec->default_value),
              std::string(f.env));
  }
}

std::unique_ptr<config::Config> MakeConfig(const Flags& flags) {
  std::map<std::string, config::Value, std::less<>> starting;
  for (const ConfigFlag& f : kConfigFlags) {
    if (!flags.Declared(f.flag)) continue;
    const config::KeySpec* spec = config::FindKey(f.key);
    const std::string& text = flags.Get(f.flag);
    config::Value value;
    bool parsed = true;
    if (spec->type == config::Type::kString) {
      value = text;
    } else if (spec->type == config::Type::kInteger) {
      std::int64_t v = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      parsed = ec == std::errc() && end == text.data() + text.size();
      value = v;
    } else {
      double v = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      parsed = ec == std::errc() && end == text.data() + text.size();
      value = v;
    }
    std::optional<std::string> problem = parsed ? config::Check(*spec, value) : std::optional<std::string>("is not valid");
    if (problem) throw std::invalid_argument("flag --" + std::string(f.flag) + " (" + std::string(f.key) + ") " + *problem);
    starting.emplace(std::string(f.key), std::move(value));
  }
  return std::make_unique<config::Config>(std::move(starting));
}

void FollowLogLevel(config::Config& config) {
  config.Subscribe([](const config::Snapshot& s) { log::SetLevel(s.settings.log_level); });
}

namespace {

/// The rate-limit client of a request: see LimitRateAtEdge.
std::string ClientOf(const http::Request& request, const auth::Verifier& verifier) {
  std::string_view authorization = request.headers.Get("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() > kBearer.size() && http::EqualsIgnoreCase(authorization.substr(0, kBearer.size()), kBearer)) {
    const std::string_view token = authorization.substr(kBearer.size());
    if (auto principal = verifier.Verify(token)) return "user:" + std::to_string(principal->user_id);
    if (auto service = verifier.VerifyService(token)) return "service:" + service->service;
  }
  in6_addr v6{};
  if (request.peer.find(':') != std::string::npos && ::inet_pton(AF_INET6, request.peer.c_str(), &v6) == 1) {
    std::fill(std::begin(v6.s6_addr) + 8, std::end(v6.s6_addr), 0);  // the /64
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET6, &v6, text, sizeof text);
    return std::string("ip:") + text + "/64";
  }
  return "ip:" + request.peer;
}

}  // namespace

void ReportTokenCache(http::App& app, const auth::Verifier& verifier) {
  app.AddMetrics([&verifier] {
    const auth::Verifier::CacheStats s = verifier.cache_stats();
    std::string out;
    metrics::Header(out, "shop_token_cache_hits_total", "counter", "Token verifications answered by the verified-token cache.");
    out += "shop_token_cache_hits_total " + std::to_string(s.hits) + "\n";
    metrics::Header(out, "shop_token_cache_misses_total", "counter", "Token verifications done in full (signature checked).");
    out += "shop_token_cache_misses_total " + std::to_string(s.misses) + "\n";
    metrics::Header(out, "shop_token_cache_evictions_total", "counter", "Verified tokens dropped because the cache was full.");
    out += "shop_token_cache_evictions_total " + std::to_string(s.evictions) + "\n";
    metrics::Header(out, "shop_token_cache_entries", "gauge", "Verified tokens held now.");
    out += "shop_token_cache_entries " + std::to_string(s.size) + "\n";
    return out;
  });
}

void LimitRateAtEdge(config::Config& config, http::App& app, const auth::Verifier& verifier) {
  // Shared with the subscription, which may outlive the caller's scope on a watcher thread.
  auto limiter = std::make_shared<RateLimiter>(RateLimiter::Limits{});
  config.Subscribe([limiter](const config::Snapshot& s) {
    limiter->SetLimits({.rate_per_second = s.settings.rate_limit_rps, .burst = s.settings.rate_limit_burst});
  });
  app.SetEdgeLimiter(limiter.get(), [limiter, &verifier](const http::Request& request) { return ClientOf(request, verifier); });
}

int Serve(http::App& app, const http::ServerOptions& options, const std::function<void(std::uint16_t)>& on_listening) {
  app.Seal();
  http::Server server(options, app);
  if (on_listening) on_listening(server.port());
  log::Write(log::Level::kInfo, "listening", {{"host", options.host}, {"port", static_cast<int>(server.port())}});
  server.Run();
  log::Write(log::Level::kInfo, "stopped");
  return 0;
}

int Guard(std::string_view service, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    log::Write(log::Level::kError, "start-up failed", {{"error", e.what()}});
    std::cerr << service << ": " << e.what() << '\n';
    return 1;
  }
}

}  // namespace shop::runtime
