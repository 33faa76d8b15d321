#include "pg_server.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#ifndef SHOP_PG_SERVER_SCRIPT
#error "SHOP_PG_SERVER_SCRIPT (the path of tests/support/pg_server.sh) must be defined"
#endif

namespace shop::testing {
namespace {

struct ScriptResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, interleaved
};

// Runs `bash pg_server.sh ARGS...` and collects its output. The server it starts writes to its own log, so the
// pipe reaches end of file when the script exits.
ScriptResult RunScript(std::vector<std::string> args) {
  args.insert(args.begin(), {"/bin/bash", SHOP_PG_SERVER_SCRIPT});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (child == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::execv(argv[0], argv.data());
    std::_Exit(127);
  }
  ::close(fds[1]);
  ScriptResult result;
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) {
      result.output.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

bool PgServer::Installed() {
  const char* bin = std::getenv("PG_SERVER_BIN");
  const std::filesystem::path dir = bin && *bin ? bin : "/usr/lib/postgresql/15/bin";
  for (const char* tool : {"initdb", "postgres", "pg_isready", "psql"}) {
    if (::access((dir / tool).c_str(), X_OK) != 0) return false;
  }
  return true;
}

PgServer::PgServer() {
  // The watchdog stops the server when this process is gone without having stopped it.
  const ScriptResult started = RunScript({"start", "--owner", std::to_string(::getpid())});
  if (started.exit_code == 77) throw NotInstalled(started.output);
  if (started.exit_code != 0) {
    throw std::runtime_error("pg_server.sh start failed (exit " + std::to_string(started.exit_code) + "):\n" +
                             started.output);
  }
  std::map<std::string, std::string, std::less<>> values;
  std::size_t at = 0;
  while (at < started.output.size()) {
    std::size_t end = started.output.find('\n', at);
    if (end == std::string::npos) end = started.output.size();
    const std::string_view line(started.output.data() + at, end - at);
    if (const auto eq = line.find('='); line.starts_with("PG_SERVER_") && eq != std::string_view::npos) {
      values.emplace(line.substr(0, eq), line.substr(eq + 1));
    }
    at = end + 1;
  }
  dir_ = values["PG_SERVER_DIR"];
  url_ = values["PG_SERVER_URL"];
  os_user_ = values["PG_SERVER_USER"];
  const std::string& port = values["PG_SERVER_PORT"];
  const std::string& pid = values["PG_SERVER_PID"];
  std::from_chars(port.data(), port.data() + port.size(), port_);
  std::from_chars(pid.data(), pid.data() + pid.size(), pid_);
  if (dir_.empty() || url_.empty() || port_ == 0 || pid_ <= 0) {
    const std::filesystem::path dir = dir_;
    if (!dir.empty()) RunScript({"stop", dir.string()});
    throw std::runtime_error("pg_server.sh start printed no server:\n" + started.output);
  }
}

PgServer::~PgServer() { Stop(); }

bool PgServer::Stop() {
  if (dir_.empty()) return true;
  const ScriptResult stopped = RunScript({"stop", dir_.string()});
  dir_.clear();
  pid_ = -1;
  return stopped.exit_code == 0;
}

std::string PgServer::Url(std::string_view user, std::string_view password, std::string_view database) const {
  return "postgresql://" + PercentEncode(user) + ":" + PercentEncode(password) + "@127.0.0.1:" + std::to_string(port_) +
         "/" + PercentEncode(database);
}

}  // namespace shop::testing
