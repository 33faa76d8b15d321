#include "server_harness.h"

#include "service_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace shop::e2e {
namespace {

using Clock = std::chrono::steady_clock;


std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Tail(const std::string& text, std::size_t n = 4000) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

ExitStatus FromWaitStatus(int status) {
  ExitStatus s;
  if (WIFEXITED(status)) {
    s.exited = true;
    s.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    s.signal = WTERMSIG(status);
  }
  return s;
}

/// argv and envp prepared before fork: the child may only call async-signal-safe functions.
struct ExecImage {
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::vector<char*> argv;
  std::vector<char*> envp;

  ExecImage(const std::filesystem::path& binary, const std::vector<std::string>& arguments,
            const std::vector<std::pair<std::string, std::string>>& overrides) {
    args.push_back(binary.string());
    args.insert(args.end(), arguments.begin(), arguments.end());
    for (char** e = environ; *e != nullptr; ++e) {
      std::string_view entry(*e);
      bool replaced = false;
      for (const auto& [name, value] : overrides) replaced = replaced || entry.starts_with(name + "=");
      if (!replaced) env.emplace_back(entry);
    }
    for (const auto& [name, value] : overrides) env.push_back(name + "=" + value);
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
  }
};

/// In the child after fork: wire fds and exec; never returns.
[[noreturn]] void ExecChild(const ExecImage& image, int out_fd, int err_fd, pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the suite, even if it crashes
  if (::getppid() != parent) ::_exit(127);
  int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd >= 0) ::dup2(null_fd, 0);
  ::dup2(out_fd, 1);
  ::dup2(err_fd, 2);
  ::execve(image.argv[0], image.argv.data(), image.envp.data());
  static constexpr char kMsg[] = "e2e harness: execve failed\n";
  [[maybe_unused]] auto ignored = ::write(2, kMsg, sizeof kMsg - 1);
  ::_exit(127);
}

bool IsReady(const Endpoint& endpoint) {
  try {
    Connection c(endpoint, std::chrono::milliseconds(1000));
    return c.Request("GET", "/health/ready").status == 200;
  } catch (const HttpError&) {
    return false;
  }
}

}  // namespace

std::string ExitStatus::Describe() const {
  if (timed_out) return "did not exit by the deadline (killed)";
  if (exited) return "exited with code " + std::to_string(code);
  if (signal != 0) return std::string("killed by signal ") + ::strsignal(signal);
  return "unknown";
}

ShopProcess::ShopProcess(Options options) : options_(std::move(options)) {
  endpoint_.host = "127.0.0.1";
  std::filesystem::create_directories(options_.data_dir);
  std::filesystem::create_directories(options_.log_dir);
}

ShopProcess::~ShopProcess() {
  if (running()) Stop(SIGTERM);
}

std::string ShopProcess::ReadStdout() const { return ReadFile(stdout_path()); }
std::string ShopProcess::ReadStderr() const { return ReadFile(stderr_path()); }

std::optional<ExitStatus> ShopProcess::Reap(bool wait) {
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, wait ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    pid_ = -1;
    return FromWaitStatus(status);
  }
  return std::nullopt;
}

bool ShopProcess::Launch(std::uint16_t port) {
  if (!std::filesystem::exists(options_.binary)) {
    throw std::runtime_error("shop binary not found: " + options_.binary.string());
  }
  std::vector<std::string> args = {"--port", std::to_string(port), "--data-dir", options_.data_dir.string(),
                                   "--host", "127.0.0.1"};
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  ExecImage image(options_.binary, args, options_.env);
  int out_fd = ::open(stdout_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int err_fd = ::open(stderr_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out_fd < 0 || err_fd < 0) throw std::runtime_error(std::string("cannot open log files: ") + std::strerror(errno));
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) ExecChild(image, out_fd, err_fd, parent);
  ::close(out_fd);
  ::close(err_fd);
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  pid_ = pid;
  endpoint_.port = port;

  const auto deadline = Clock::now() + options_.ready_deadline;
  for (;;) {
    if (std::optional<ExitStatus> ended = Reap(false)) {
      std::cerr << "e2e harness: shop " << ended->Describe() << " before it was ready on port " << port << "\n";
      return false;
    }
    if (IsReady(endpoint_)) return true;
    if (Clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      Reap(true);
      throw std::runtime_error("shop was not ready within " + std::to_string(options_.ready_deadline.count()) +
                               " s on port " + std::to_string(port) + "; stderr:\n" + Tail(ReadStderr()) +
                               "\nstdout:\n" + Tail(ReadStdout()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void ShopProcess::Start() {
  if (running()) throw std::logic_error("shop is already running");
  std::uint16_t port = endpoint_.port != 0 ? endpoint_.port : shop::testing::FreeLoopbackPort();
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (Launch(port)) return;
    port = shop::testing::FreeLoopbackPort();  // the port may have been taken in the meantime
  }
  throw std::runtime_error("shop exited before it was ready (3 attempts); stderr:\n" + Tail(ReadStderr()) +
                           "\nstdout:\n" + Tail(ReadStdout()));
}

ExitStatus ShopProcess::Stop(int signal, std::chrono::seconds deadline) {
  if (!running()) throw std::logic_error("shop is not running");
  ::kill(pid_, signal);
  const auto end = Clock::now() + deadline;
  for (;;) {
    if (std::optional<ExitStatus> ended = Reap(false)) return *ended;
    if (Clock::now() >= end) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  Reap(true);
  ExitStatus s;
  s.timed_out = true;
  return s;
}

std::pair<ExitStatus, std::string> RunToCompletion(const std::filesystem::path& binary,
                                                   const std::vector<std::string>& args,
                                                   std::chrono::seconds deadline) {
  ExecImage image(binary, args, {});
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) ExecChild(image, fds[1], fds[1], parent);
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  std::string output;
  const auto end = Clock::now() + deadline;
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ExitStatus s = FromWaitStatus(status);
  s.timed_out = timed_out;
  return {s, output};
}

std::string SanitizerReport(const std::string& output, std::size_t max) {
  const std::size_t at = std::min(output.find("Sanitizer"), output.find("runtime error:"));
  if (at == std::string::npos) return {};
  const std::size_t line = output.rfind('\n', at);
  return output.substr(line == std::string::npos ? 0 : line + 1, max);
}

TestServer& TestServer::Get() {
  static TestServer server;
  return server;
}

TestServer::TestServer() {
  const char* nats = std::getenv("SHOP_E2E_NATS_URL");
  const bool nats_given = nats != nullptr && *nats != '\0';
  if (nats_given && std::string_view(nats) != "off") nats_url_ = nats;
  if (const char* url = std::getenv("SHOP_E2E_BASE_URL"); url != nullptr && *url != '\0') {
    base_url_ = ParseBaseUrl(url);
    if (const char* e = std::getenv("SHOP_E2E_ADMIN_EMAIL")) admin_email_ = e;
    if (const char* p = std::getenv("SHOP_E2E_ADMIN_PASSWORD")) admin_password_ = p;
    if (!IsReady(*base_url_)) {
      throw std::runtime_error("SHOP_E2E_BASE_URL=" + std::string(url) + " does not answer GET /health/ready with 200");
    }
    return;
  }
  const char* binary = std::getenv("SHOP_BINARY");
  if (binary == nullptr || *binary == '\0') {
    throw std::runtime_error("set SHOP_BINARY (the shop executable) or SHOP_E2E_BASE_URL (a running server)");
  }
  binary_ = binary;
  admin_email_ = "admin-" + RunId() + "@e2e.test";
  admin_password_ = "pw-" + RandomHexString(12);
  dir_ = std::make_unique<testing::TempDir>();
  // A NATS server for the run, so the events shop publishes can be watched as an outside consumer
  // would; it stays up across the restarts some tests make, and shop is always told (`off` when
  // there is none), whatever SHOP_NATS_URL the suite itself was started with.
  if (!nats_given) {
    if (testing::NatsServer::Installed()) {
      nats_ = std::make_unique<testing::NatsServer>(dir_->path());
      nats_->Start();
      nats_url_ = nats_->url();
    } else {
      std::cerr << "e2e harness: " << testing::NatsServer::kBinary
                << " not found: shop runs without NATS and the events tests are skipped\n";
    }
  }
  ShopProcess::Options options;
  options.binary = binary_;
  options.data_dir = *dir_ / "data";
  options.log_dir = dir_->path();
  options.env = {{"SHOP_ADMIN_EMAIL", admin_email_},
                 {"SHOP_ADMIN_PASSWORD", admin_password_},
                 {"SHOP_NATS_URL", nats_url_.empty() ? "off" : nats_url_}};
  process_ = std::make_unique<ShopProcess>(std::move(options));
  process_->Start();
}

TestServer::~TestServer() {
  if (!process_) return;
  if (process_->running()) {
    ExitStatus s = process_->Stop(SIGTERM);
    if (!s.Clean()) std::cerr << "e2e harness: shop " << s.Describe() << " on SIGTERM at the end of the suite\n";
  }
  // Keep the server's output next to the test for a post-mortem; the temp dir goes away.
  std::error_code ec;
  std::filesystem::copy_file(process_->stdout_path(), "e2e_shop_stdout.log",
                             std::filesystem::copy_options::overwrite_existing, ec);
  std::filesystem::copy_file(process_->stderr_path(), "e2e_shop_stderr.log",
                             std::filesystem::copy_options::overwrite_existing, ec);
  if (nats_) {
    nats_->Stop();
    std::filesystem::copy_file(dir_->path() / "nats.log", "e2e_nats.log",
                               std::filesystem::copy_options::overwrite_existing, ec);
  }
}

Endpoint TestServer::endpoint() const { return base_url_ ? *base_url_ : process_->endpoint(); }

ShopProcess& TestServer::process() {
  if (!process_) throw std::logic_error("the server was not started by this harness (SHOP_E2E_BASE_URL is set)");
  return *process_;
}

ExitStatus TestServer::Restart(int signal) {
  ExitStatus s = process().Stop(signal);
  process().Start();
  return s;
}

std::string RandomHexString(std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    unsigned byte = rd() & 0xffu;
    out += kHex[byte >> 4];
    out += kHex[byte & 0xf];
  }
  return out;
}

const std::string& RunId() {
  static const std::string id = RandomHexString(4);
  return id;
}

std::string Unique(std::string_view prefix) {
  static std::atomic<unsigned> counter{0};
  return std::string(prefix) + "-" + RunId() + "-" + std::to_string(++counter);
}

}  // namespace shop::e2e
