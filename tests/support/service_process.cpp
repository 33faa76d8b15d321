#include "service_process.h"

#include "shop/core/random.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace shop::testing {
std::uint16_t FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int error = errno;
    ::close(fd);
    throw std::runtime_error(std::string("cannot find a free loopback port: ") + std::strerror(error));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

int HttpGetStatus(std::uint16_t port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  int status = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
      char buf[64] = {};
      ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
      if (n >= 12 && std::strncmp(buf, "HTTP/1.", 7) == 0) status = std::atoi(buf + 9);
    }
  }
  ::close(fd);
  return status;
}

ServiceProcess::ServiceProcess(Options options) : options_(std::move(options)), port_(FreeLoopbackPort()) {}

ServiceProcess::~ServiceProcess() {
  if (pid_ > 0) Stop(SIGKILL, std::chrono::seconds(5));
}

std::filesystem::path ServiceProcess::BinDir() {
  const char* dir = std::getenv("SHOP_BIN_DIR");
  if (!dir || !*dir) throw std::runtime_error("SHOP_BIN_DIR is not set (CTest sets it)");
  return dir;
}

void ServiceProcess::Launch() {
  if (pid_ > 0) throw std::logic_error("already running");
  std::vector<std::string> args{options_.binary.string()};
  for (std::string arg : options_.args) {
    if (auto at = arg.find("{port}"); at != std::string::npos) arg.replace(at, 6, std::to_string(port_));
    args.push_back(std::move(arg));
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int log = ::open(options_.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) {
      ::dup2(log, STDOUT_FILENO);
      ::dup2(log, STDERR_FILENO);
    }
    // A split service started by a test runs alone (no NATS: static URLs, configuration from flags)
    // unless the test gives it a NATS server, by --nats-url or SHOP_NATS_URL.
    ::setenv("SHOP_NATS_URL", "off", 1);
    for (const auto& [name, value] : options_.env) ::setenv(name.c_str(), value.c_str(), 1);
    ::execv(argv[0], argv.data());
    std::_Exit(127);
  }
}

namespace {

bool Accepts(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

bool NatsServer::Installed() {
  std::error_code ec;
  return std::filesystem::exists(kBinary, ec);
}

NatsServer::NatsServer(const std::filesystem::path& dir)
    : process_({.binary = kBinary,
                .args = {"-js", "-sd", (dir / "nats").string(), "-a", "127.0.0.1", "-p", "{port}"},
                .env = {},
                .log_file = dir / "nats.log",
                .ready_on_connect = true}) {}

bool ServiceProcess::WaitReady(std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (options_.ready_on_connect ? Accepts(port_) : HttpGetStatus(port_, "/health/ready") == 200) return true;
    int status = 0;
    if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    ::poll(nullptr, 0, 20);  // polling a condition with a deadline
  }
  return false;
}

void ServiceProcess::Start() {
  Launch();
  if (!WaitReady(options_.ready_deadline)) {
    const std::string log = Log();
    if (pid_ > 0) Stop(SIGKILL, std::chrono::seconds(5));
    throw std::runtime_error(options_.binary.filename().string() + " did not become ready; log:\n" +
                             log.substr(log.size() > 4000 ? log.size() - 4000 : 0));
  }
}

int ServiceProcess::Stop(int signal, std::chrono::seconds deadline) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  const auto until = std::chrono::steady_clock::now() + deadline;
  int status = 0;
  while (true) {
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (std::chrono::steady_clock::now() >= until) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      return -1;
    }
    ::poll(nullptr, 0, 10);
  }
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

std::string ServiceProcess::Log() const {
  std::ifstream in(options_.log_file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::filesystem::path WriteOrdersSecret(const std::filesystem::path& secrets) {
  std::filesystem::create_directories(secrets);
  std::ofstream(secrets / "orders") << RandomHex(32) << '\n';
  return secrets;
}

}  // namespace shop::testing
