#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "http_client.h"
#include "temp_dir.h"

namespace shop::testing {
class NatsServer;
}  // namespace shop::testing

/// Where the end-to-end suite finds the server under test: either one someone else started
/// (SHOP_E2E_BASE_URL, e.g. the split layout's gateway) or a `shop` process started here.
namespace shop::e2e {

/// How a process ended.
struct ExitStatus {
  bool exited = false;     ///< returned from main / called exit
  int code = -1;           ///< exit code when exited
  int signal = 0;          ///< terminating signal when killed
  bool timed_out = false;  ///< still running at the deadline (then killed with SIGKILL)

  bool Clean() const { return exited && code == 0; }
  std::string Describe() const;
};

/// One `shop` process: fork/exec on a free loopback port, stdout and stderr to files in `log_dir`.
class ShopProcess {
 public:
  struct Options {
    std::filesystem::path binary;
    std::filesystem::path data_dir;
    std::filesystem::path log_dir;
    std::vector<std::string> extra_args;                   ///< e.g. {"--token-ttl", "2"}
    std::vector<std::pair<std::string, std::string>> env;  ///< on top of this process's environment
    std::chrono::seconds ready_deadline = std::chrono::seconds(20);
  };

  explicit ShopProcess(Options options);
  /// Stops the process (SIGTERM, then SIGKILL after a deadline) if it still runs.
  ~ShopProcess();
  ShopProcess(const ShopProcess&) = delete;
  ShopProcess& operator=(const ShopProcess&) = delete;

  /// Starts the process and waits until GET /health/ready answers 200. Keeps the port of an earlier
  /// start (a restart) unless it cannot be bound again. Throws std::runtime_error with the log tail
  /// if the process exits or is not ready by the deadline.
  void Start();
  /// Sends `signal` and waits (bounded) for the process to end.
  ExitStatus Stop(int signal = SIGTERM, std::chrono::seconds deadline = std::chrono::seconds(20));
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  const Endpoint& endpoint() const { return endpoint_; }
  const std::filesystem::path& data_dir() const { return options_.data_dir; }
  std::filesystem::path stdout_path() const { return options_.log_dir / "stdout.log"; }
  std::filesystem::path stderr_path() const { return options_.log_dir / "stderr.log"; }
  std::string ReadStdout() const;
  std::string ReadStderr() const;

 private:
  bool Launch(std::uint16_t port);  // false: exited before ready (e.g. port taken)
  std::optional<ExitStatus> Reap(bool wait);

  Options options_;
  Endpoint endpoint_;
  pid_t pid_ = -1;
};

/// Runs `binary args...` to completion (bounded), returning how it ended and its stdout+stderr.
std::pair<ExitStatus, std::string> RunToCompletion(const std::filesystem::path& binary,
                                                   const std::vector<std::string>& args,
                                                   std::chrono::seconds deadline = std::chrono::seconds(20));

/// The first sanitizer report (AddressSanitizer, LeakSanitizer, UBSan's "runtime error:") in a process's
/// output, from the start of its line and at most `max` characters; empty when there is none. Only a
/// SHOP_SANITIZE build prints them (tests/run.sh's sanitizer stage), and each also ends the process
/// with SIGABRT, but a server's stderr goes to a file: checks that stop a server show the report with this.
std::string SanitizerReport(const std::string& output, std::size_t max = 6000);

/// The server the suite talks to, shared by every test case in the process and started lazily.
class TestServer {
 public:
  /// The one instance; the first call starts the server (harness mode). Throws if it cannot.
  static TestServer& Get();

  Endpoint endpoint() const;
  /// True when this harness started the process: only then can tests restart or signal it.
  bool managed() const { return process_ != nullptr; }
  const std::string& admin_email() const { return admin_email_; }
  const std::string& admin_password() const { return admin_password_; }
  /// The NATS server the server under test publishes its domain events to (PLATFORM.md "Events"),
  /// empty when none is known. SHOP_E2E_NATS_URL names it (`off`: none); otherwise, in harness
  /// mode, a nats-server started here for the run when one is installed, kept across restarts.
  const std::string& nats_url() const { return nats_url_; }

  /// Harness mode only (these throw otherwise).
  ShopProcess& process();
  const std::filesystem::path& binary() const { return binary_; }
  /// Stops with `signal`, then starts again on the same data dir.
  ExitStatus Restart(int signal = SIGTERM);

  ~TestServer();

 private:
  TestServer();

  std::optional<Endpoint> base_url_;
  std::string admin_email_;
  std::string admin_password_;
  std::filesystem::path binary_;
  std::string nats_url_;
  std::unique_ptr<testing::TempDir> dir_;
  std::unique_ptr<testing::NatsServer> nats_;  // outlives process_: shop stops before its NATS does
  std::unique_ptr<ShopProcess> process_;
};

/// Random hex, fresh per run of the suite: makes emails and skus unique on a persistent server.
const std::string& RunId();
/// `prefix` + run id + a counter: unique within and across runs.
std::string Unique(std::string_view prefix);
/// `n` random bytes from the OS, hex-encoded.
std::string RandomHexString(std::size_t n);

/// Polls `ready` every `interval` until it is true or `deadline` passes; returns its last value.
template <class Pred>
bool Eventually(Pred ready, std::chrono::milliseconds deadline,
                std::chrono::milliseconds interval = std::chrono::milliseconds(50)) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (ready()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(interval);
  }
}

}  // namespace shop::e2e
