#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace shop::testing {

/// One server process for a test: fork/exec of `binary` with `args`, on a free loopback port,
/// stdout and stderr to `log_file`. In `args`, "{port}" is replaced by the port.
/// Start() waits until GET /health/ready answers 200 (polling with a deadline, not sleeping).
/// SHOP_NATS_URL is `off` in the process's environment unless `env` sets it: split services run
/// alone, on static URLs.
class ServiceProcess {
 public:
  struct Options {
    std::filesystem::path binary;
    std::vector<std::string> args;  ///< e.g. {"--port", "{port}", "--data-dir", dir}
    std::vector<std::pair<std::string, std::string>> env;
    std::filesystem::path log_file;
    std::chrono::seconds ready_deadline{20};
    /// Ready when a TCP connection to the port succeeds (a server that speaks no HTTP, e.g. NATS)
    /// instead of GET /health/ready answering 200.
    bool ready_on_connect = false;
  };

  explicit ServiceProcess(Options options);
  ~ServiceProcess();  ///< SIGKILL if still running
  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;

  /// Starts (or restarts, on the same port) and waits until ready; throws std::runtime_error with
  /// the log's tail when the process exits or is not ready in time.
  void Start();
  /// Starts without waiting for readiness (for services whose dependencies are down).
  void Launch();
  /// True when GET /health/ready answers 200 before the deadline.
  bool WaitReady(std::chrono::milliseconds deadline);
  /// Sends `signal`, waits up to `deadline`; returns the exit code (128 + signal if killed, -1 on timeout).
  int Stop(int signal = SIGTERM, std::chrono::seconds deadline = std::chrono::seconds(20));
  /// `kill -9`: the process gets no chance to finish anything (no deregistration, no flush); returns
  /// 128 + SIGKILL once it is gone, -1 when it was not running. Start() brings it back on the same port.
  int Kill() { return Stop(SIGKILL, std::chrono::seconds(5)); }
  bool running() const { return pid_ > 0; }

  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string Log() const;

  /// The directory holding the project's executables: $SHOP_BIN_DIR (set by CTest).
  static std::filesystem::path BinDir();

 private:
  Options options_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

/// A loopback port that was free a moment ago (bind to port 0, read it back, close).
std::uint16_t FreeLoopbackPort();

/// A NATS server with JetStream (Debian's nats-server) on a free loopback port, its data in `dir`;
/// the same port and data after a restart.
class NatsServer {
 public:
  /// The nats-server executable used (Debian's package installs it here).
  static constexpr const char* kBinary = "/usr/sbin/nats-server";
  /// True when kBinary exists: tests that can do without NATS run without it otherwise.
  static bool Installed();

  explicit NatsServer(const std::filesystem::path& dir);
  /// Starts (or restarts on the same port, with the same store) and waits until it accepts connections.
  void Start() { process_.Start(); }
  int Stop(int signal = SIGTERM) { return process_.Stop(signal); }
  bool running() const { return process_.running(); }
  std::uint16_t port() const { return process_.port(); }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(process_.port()); }

 private:
  ServiceProcess process_;
};

/// Status of GET `path` on 127.0.0.1:`port` (0 when nothing answers), with a short timeout.
int HttpGetStatus(std::uint16_t port, const std::string& path);

/// Writes the orders service's client secret as split/make-secrets.sh does: 32 random bytes as hex
/// in `secrets`/orders (users reads every client from the directory; orders gets the file).
/// Returns `secrets`.
std::filesystem::path WriteOrdersSecret(const std::filesystem::path& secrets);

}  // namespace shop::testing
