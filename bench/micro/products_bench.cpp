// Micro-benchmarks: one products::Api::GetProduct call in process versus the same call through
// the module's HTTP client adapter against a live shop-products service (split builds only).
//
//   InProcess/GetProduct     products::MakeService(db)->GetProduct(id): the module interface, no HTTP
//   InProcess/AppHandle      GET /products/{id} through http::App::Handle (routing, JSON, pipeline), no socket
//   Remote/GetProduct        products::MakeHttpClient(...)->GetProduct(id): loopback HTTP + JSON both ways
//   Remote/HealthLive        http::Client GET /health/live on the same service: the HTTP round-trip floor
//
// The Remote cases also report counters for the cost ladder (bench/lib/ladder.py): `server_cpu_us`, the
// shop-products process's CPU per call (its CPU-time clock, all threads); `softirq_us`, softirq time per
// call on the CPUs of the benchmark and of the services (/proc/stat: the kernel's network receive work,
// which IRQ time accounting charges to no process); `p50_us` and `p99_us`, each call timed.
//
// Ids are random over the seeded products. The Remote cases start shop-users and shop-products
// (fork/exec, from SHOP_BENCH_BIN_DIR or this executable's directory) on free loopback ports over a
// temporary data dir, seeded in process before start, with `--nats-url off` (no registry: products
// is given users' static URL); they are stopped at exit. Services log at
// `warn` (no request lines), like the in-process cases. SHOP_BENCH_SERVER_CPUS=0 pins the services
// to CPU 0 (the benchmark itself is pinned by whoever runs it, e.g. taskset -c 1).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "shop/auth/token.h"
#include "shop/http/app.h"
#include "shop/platform/log.h"
#include "shop/products/http.h"
#include "shop/products/products.h"
#if SHOP_BENCH_REMOTE
#include "shop/http_client/client.h"
#include "shop/products/remote.h"
#endif

namespace {

namespace fs = std::filesystem;
using namespace shop;

constexpr std::int64_t kProducts = 1000;

// xorshift64: cheap, deterministic ids in 1..kProducts.
struct Ids {
  std::uint64_t s = 0x9E3779B97F4A7C15ull;
  std::int64_t Next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return static_cast<std::int64_t>(s % kProducts) + 1;
  }
};

fs::path g_tmp;

void Seed(const fs::path& dir) {
  fs::create_directories(dir);
  auto db = sql::Database::Open({(dir / "products.db").string()}, products::EmbeddedMigrations());
  auto service = products::MakeService(*db);
  Principal admin{.user_id = 1, .role = Role::kAdmin};
  for (std::int64_t i = 1; i <= kProducts; ++i) {
    char sku[32], name[64];
    std::snprintf(sku, sizeof sku, "bench-%06lld", static_cast<long long>(i));
    std::snprintf(name, sizeof name, "Bench product %06lld", static_cast<long long>(i));
    auto p = service->CreateProduct(
        admin, {.sku = sku, .name = name, .price_cents = 100 + (i * 37) % 9900, .stock = 1000000000});
    if (!p) throw std::runtime_error("seeding products failed");
  }
}

// The in-process module over its own temporary database, created on first use.
struct InProcess {
  std::unique_ptr<sql::Database> db;
  std::unique_ptr<products::Api> service;
  auth::Verifier verifier;
  std::unique_ptr<http::App> app;

  static InProcess& Get() {
    static InProcess* instance = [] {
      auto* p = new InProcess;
      const fs::path dir = g_tmp / "inproc";
      Seed(dir);
      p->db = sql::Database::Open({(dir / "products.db").string()}, products::EmbeddedMigrations());
      p->service = products::MakeService(*p->db);
      p->app = std::make_unique<http::App>("products", "bench");
      products::AddRoutes(p->app->router(), *p->service, p->verifier);
      p->app->Seal();
      return p;
    }();
    return *instance;
  }
};

// Runs `body` with the in-process module, or skips the benchmark if it could not be set up.
template <typename Body>
void WithInProcess(benchmark::State& state, Body body) {
  InProcess* m = nullptr;
  try {
    m = &InProcess::Get();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  body(*m);
}

/// The measured loop, the same for both implementations of products::Api.
void GetProducts(benchmark::State& state, products::Api& api) {
  Ids ids;
  for (auto _ : state) {
    auto p = api.GetProduct(ids.Next());
    if (!p) {
      state.SkipWithError(("GetProduct failed: " + p.error().detail).c_str());
      break;
    }
    benchmark::DoNotOptimize(p->price_cents);
  }
}

void BM_InProcess_GetProduct(benchmark::State& state) {
  WithInProcess(state, [&](InProcess& m) { GetProducts(state, *m.service); });
}
BENCHMARK(BM_InProcess_GetProduct)->Name("InProcess/GetProduct")->Unit(benchmark::kMicrosecond);

void BM_InProcess_AppHandle(benchmark::State& state) {
  WithInProcess(state, [&](InProcess& m) {
    Ids ids;
    for (auto _ : state) {
      http::Request request{.method = "GET", .target = "/products/" + std::to_string(ids.Next())};
      http::Response response = m.app->Handle(request);
      if (response.status != 200) {
        state.SkipWithError("GET /products/{id} was not 200");
        break;
      }
      benchmark::DoNotOptimize(response.body.data());
    }
  });
}
BENCHMARK(BM_InProcess_AppHandle)->Name("InProcess/AppHandle")->Unit(benchmark::kMicrosecond);

#if SHOP_BENCH_REMOTE

std::vector<pid_t> g_children;

void StopChildren() {
  for (pid_t pid : g_children) ::kill(pid, SIGTERM);
  for (pid_t pid : g_children) {
    int status = 0;
    for (int i = 0; i < 100 && ::waitpid(pid, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (::waitpid(pid, &status, WNOHANG) == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
  }
  g_children.clear();
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

fs::path BinDir() {
  if (const char* dir = std::getenv("SHOP_BENCH_BIN_DIR"); dir && *dir) return dir;
  return fs::read_symlink("/proc/self/exe").parent_path();
}

// The CPUs of SHOP_BENCH_SERVER_CPUS ("0" or "0,2"); empty when unset.
std::set<int> ServerCpus() {
  std::set<int> out;
  const char* cpus = std::getenv("SHOP_BENCH_SERVER_CPUS");
  for (const char* c = cpus ? cpus : ""; *c;) {
    char* end = nullptr;
    long n = std::strtol(c, &end, 10);
    if (end == c) break;
    out.insert(static_cast<int>(n));
    c = *end == ',' ? end + 1 : end;
  }
  return out;
}

pid_t Spawn(const std::vector<std::string>& argv, const fs::path& log) {
  const std::set<int> cpus = ServerCpus();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the benchmark
    if (!cpus.empty()) {
      cpu_set_t set;
      CPU_ZERO(&set);
      for (int n : cpus) CPU_SET(n, &set);
      ::sched_setaffinity(0, sizeof set, &set);
    }
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  g_children.push_back(pid);
  return pid;
}

// Nanoseconds of CPU another process has used, all its threads (its CPU-time clock); -1 if unreadable.
std::int64_t ProcessCpuNs(pid_t pid) {
  clockid_t clock{};
  timespec ts{};
  if (::clock_getcpuclockid(pid, &clock) != 0 || ::clock_gettime(clock, &ts) != 0) return -1;
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Softirq time since boot of the CPUs this benchmark and the services run on, in ns (/proc/stat's ticks).
std::int64_t SoftirqNs() {
  std::set<int> cpus = ServerCpus();
  cpu_set_t mine;
  CPU_ZERO(&mine);
  if (::sched_getaffinity(0, sizeof mine, &mine) == 0) {
    for (int i = 0; i < CPU_SETSIZE; ++i) {
      if (CPU_ISSET(i, &mine)) cpus.insert(i);
    }
  }
  std::ifstream in("/proc/stat");
  std::string line;
  std::int64_t ticks = 0;
  while (std::getline(in, line)) {
    if (line.size() < 4 || line.compare(0, 3, "cpu") != 0 || line[3] < '0' || line[3] > '9') continue;
    std::istringstream fields(line.substr(3));
    int cpu = 0;
    std::int64_t v[7] = {};  // user nice system idle iowait irq softirq
    fields >> cpu;
    for (auto& x : v) fields >> x;
    if (cpus.count(cpu)) ticks += v[6];
  }
  return ticks * (1'000'000'000 / ::sysconf(_SC_CLK_TCK));
}

// Around a measured loop of calls to `server`: the counters of the cost ladder (see the top of this file).
class LadderCounters {
 public:
  explicit LadderCounters(pid_t server) : server_(server), server0_(ProcessCpuNs(server)), softirq0_(SoftirqNs()) {
    call_ns_.reserve(1 << 16);
  }

  void Add(std::chrono::steady_clock::duration d) {
    call_ns_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
  }

  void Report(benchmark::State& state) {
    const std::int64_t server1 = ProcessCpuNs(server_), softirq1 = SoftirqNs();
    if (server0_ >= 0 && server1 >= 0) {
      state.counters["server_cpu_us"] =
          benchmark::Counter(static_cast<double>(server1 - server0_) / 1e3, benchmark::Counter::kAvgIterations);
    }
    state.counters["softirq_us"] =
        benchmark::Counter(static_cast<double>(softirq1 - softirq0_) / 1e3, benchmark::Counter::kAvgIterations);
    if (!call_ns_.empty()) {
      std::sort(call_ns_.begin(), call_ns_.end());
      auto at = [&](double q) {
        return static_cast<double>(call_ns_[static_cast<std::size_t>(q * static_cast<double>(call_ns_.size() - 1))]) / 1e3;
      };
      state.counters["p50_us"] = at(0.50);
      state.counters["p99_us"] = at(0.99);
    }
  }

 private:
  pid_t server_;
  std::int64_t server0_, softirq0_;
  std::vector<std::int64_t> call_ns_;
};

// shop-users (for the token keys products needs to be ready) and shop-products over a seeded db.
struct Remote {
  std::string products_url;
  pid_t products_pid = -1;
  std::unique_ptr<products::Api> client;
  std::unique_ptr<http::Client> raw;

  // Started once; nullptr (and `error`) when it could not be.
  static Remote* Get(std::string& error) {
    static std::string start_error;
    static Remote* instance = []() -> Remote* {
      try {
        return Start();
      } catch (const std::exception& e) {
        start_error = e.what();
        return nullptr;
      }
    }();
    error = start_error;
    return instance;
  }

  static Remote* Start() {
    auto r = std::make_unique<Remote>();
    const fs::path bin = BinDir();
    for (const char* exe : {"shop-users", "shop-products"}) {
      if (::access((bin / exe).c_str(), X_OK) != 0) {
        throw std::runtime_error((bin / exe).string() + " not found (set SHOP_BENCH_BIN_DIR)");
      }
    }
    Seed(g_tmp / "products");
    const std::string users_port = std::to_string(FreePort());
    Spawn({(bin / "shop-users").string(), "--host", "127.0.0.1", "--port", users_port, "--data-dir",
           (g_tmp / "users").string(), "--nats-url", "off", "--log-level", "warn"},
          g_tmp / "users.log");
    const std::string products_port = std::to_string(FreePort());
    r->products_url = "http://127.0.0.1:" + products_port;
    r->products_pid = Spawn({(bin / "shop-products").string(), "--host", "127.0.0.1", "--port", products_port, "--data-dir",
           (g_tmp / "products").string(), "--users-url", "http://127.0.0.1:" + users_port, "--nats-url", "off",
           "--log-level", "warn"},
          g_tmp / "products.log");
    http::Client probe({.name = "products", .base_url = r->products_url});
    bool ready = false;
    for (int i = 0; i < 200 && !ready; ++i) {
      ready = probe.Probe("/health/ready");
      if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!ready) throw std::runtime_error("shop-products was not ready within 10 s");
    r->client = products::MakeHttpClient({.name = "products", .base_url = r->products_url});
    r->raw = std::make_unique<http::Client>(http::ClientOptions{.name = "products", .base_url = r->products_url});
    return r.release();
  }
};

void BM_Remote_GetProduct(benchmark::State& state) {
  std::string error;
  Remote* remote = Remote::Get(error);
  if (!remote) {
    state.SkipWithError(error.c_str());
    return;
  }
  Ids ids;
  LadderCounters counters(remote->products_pid);
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    auto p = remote->client->GetProduct(ids.Next());
    counters.Add(std::chrono::steady_clock::now() - t0);
    if (!p) {
      state.SkipWithError(("GetProduct failed: " + p.error().detail).c_str());
      break;
    }
    benchmark::DoNotOptimize(p->price_cents);
  }
  counters.Report(state);
}
BENCHMARK(BM_Remote_GetProduct)->Name("Remote/GetProduct")->Unit(benchmark::kMicrosecond);

void BM_Remote_HealthLive(benchmark::State& state) {
  std::string error;
  Remote* remote = Remote::Get(error);
  if (!remote) {
    state.SkipWithError(error.c_str());
    return;
  }
  auto& r = *remote;
  LadderCounters counters(r.products_pid);
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    auto response = r.raw->Send(http::Request{.method = "GET", .target = "/health/live"}, false);
    counters.Add(std::chrono::steady_clock::now() - t0);
    if (!response || response->status != 200) {
      state.SkipWithError("GET /health/live failed");
      break;
    }
    benchmark::DoNotOptimize(response->body.data());
  }
  counters.Report(state);
}
BENCHMARK(BM_Remote_HealthLive)->Name("Remote/HealthLive")->Unit(benchmark::kMicrosecond);

#endif  // SHOP_BENCH_REMOTE

void Cleanup() {
#if SHOP_BENCH_REMOTE
  StopChildren();
#endif
  std::error_code ec;
  if (!g_tmp.empty()) fs::remove_all(g_tmp, ec);
}

void OnSignal(int sig) {
  Cleanup();  // not async-signal-safe in general; the process is ending anyway
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

int main(int argc, char** argv) {
  log::Configure("bench", log::Level::kWarn);
  const char* tmpdir = std::getenv("TMPDIR");
  std::string pattern = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/shop-bench-micro-XXXXXX";
  if (!::mkdtemp(pattern.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  g_tmp = pattern;
  ::signal(SIGINT, OnSignal);
  ::signal(SIGTERM, OnSignal);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    Cleanup();
    return 2;
  }
  int rc = 0;
  try {
    benchmark::RunSpecifiedBenchmarks();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shop-bench-products: %s\n", e.what());
    rc = 1;
  }
  benchmark::Shutdown();
  Cleanup();
  return rc;
}
