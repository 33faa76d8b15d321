#include "http_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

namespace shop::e2e {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string ErrnoText(std::string_view what) { return std::string(what) + ": " + std::strerror(errno); }

bool HasToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    if (EqualsIgnoreCase(Trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

void SetTimeouts(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string Endpoint::Authority() const { return host + ":" + std::to_string(port); }

Endpoint ParseBaseUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) throw std::invalid_argument("base URL must start with http://: " + std::string(url));
  std::string_view rest = url.substr(kScheme.size());
  while (rest.ends_with('/')) rest.remove_suffix(1);
  std::size_t colon = rest.rfind(':');
  Endpoint e;
  if (colon == std::string_view::npos) {
    e.host = std::string(rest);
    e.port = 80;
  } else {
    e.host = std::string(rest.substr(0, colon));
    std::string_view port = rest.substr(colon + 1);
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) {
      throw std::invalid_argument("bad port in base URL: " + std::string(url));
    }
    e.port = static_cast<std::uint16_t>(value);
  }
  if (e.host.empty() || e.host.find('/') != std::string::npos) {
    throw std::invalid_argument("base URL must be http://host:port: " + std::string(url));
  }
  return e;
}

std::string_view HttpResponse::Header(std::string_view name) const {
  for (const HttpHeader& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) return h.value;
  }
  return {};
}

bool HttpResponse::HasHeader(std::string_view name) const { return HeaderCount(name) > 0; }

std::size_t HttpResponse::HeaderCount(std::string_view name) const {
  std::size_t n = 0;
  for (const HttpHeader& h : headers) n += EqualsIgnoreCase(h.name, name) ? 1 : 0;
  return n;
}

const boost::json::value& HttpResponse::Json() const {
  if (!json_) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(body, ec);
    if (ec) {
      throw HttpError("response body (status " + std::to_string(status) + ") is not JSON: " + body.substr(0, 300));
    }
    json_ = std::move(v);
  }
  return *json_;
}

Connection::Connection(Endpoint endpoint, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), timeout_(timeout) {
  Connect();
}

Connection::~Connection() { Close(); }

Connection::Connection(Connection&& other) noexcept
    : endpoint_(std::move(other.endpoint_)),
      timeout_(other.timeout_),
      fd_(std::exchange(other.fd_, -1)),
      peer_closed_(other.peer_closed_),
      closing_(other.closing_),
      buffer_(std::move(other.buffer_)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    Close();
    endpoint_ = std::move(other.endpoint_);
    timeout_ = other.timeout_;
    fd_ = std::exchange(other.fd_, -1);
    peer_closed_ = other.peer_closed_;
    closing_ = other.closing_;
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

void Connection::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
}

void Connection::Connect() {
  Close();
  peer_closed_ = false;
  closing_ = false;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string port = std::to_string(endpoint_.port);
  if (int rc = ::getaddrinfo(endpoint_.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    throw HttpError("cannot resolve " + endpoint_.host + ": " + ::gai_strerror(rc));
  }
  std::string last_error = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, static_cast<int>(timeout_.count()));
      if (rc == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        errno = err;
        rc = err == 0 ? 0 : -1;
      } else {
        errno = ETIMEDOUT;
        rc = -1;
      }
    }
    if (rc == 0) {
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      SetTimeouts(fd, timeout_);
      fd_ = fd;
      break;
    }
    last_error = ErrnoText("connect");
    ::close(fd);
  }
  ::freeaddrinfo(found);
  if (fd_ < 0) throw HttpError("cannot connect to " + endpoint_.Authority() + ": " + last_error);
}

void Connection::EnsureConnected() {
  if (fd_ >= 0 && !peer_closed_ && buffer_.empty()) {
    // A keep-alive connection the server has since closed reads as EOF without blocking.
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 0) == 1) {
      char c;
      ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n <= 0) peer_closed_ = true;
    }
  }
  if (fd_ < 0 || peer_closed_ || closing_) Connect();
}

bool Connection::SendRaw(std::string_view bytes) {
  if (fd_ < 0) return false;
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) throw HttpError("timed out sending to " + endpoint_.Authority());
      return false;  // EPIPE, ECONNRESET: the server is gone or has closed
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::size_t Connection::Receive() {
  if (fd_ < 0 || peer_closed_) return 0;
  char chunk[16384];
  for (;;) {
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
      return static_cast<std::size_t>(n);
    }
    if (n == 0) {
      peer_closed_ = true;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      throw HttpError("timed out after " + std::to_string(timeout_.count()) + " ms waiting for " +
                      endpoint_.Authority());
    }
    peer_closed_ = true;  // ECONNRESET and the like
    return 0;
  }
}

bool Connection::FillUntil(std::size_t size) {
  while (buffer_.size() < size) {
    if (Receive() == 0) return false;
  }
  return true;
}

std::optional<std::size_t> Connection::FindHeaderEnd() {
  std::size_t searched = 0;
  for (;;) {
    std::size_t pos = buffer_.find("\r\n\r\n", searched > 3 ? searched - 3 : 0);
    if (pos != std::string::npos) return pos;
    searched = buffer_.size();
    if (buffer_.size() > 1024 * 1024) throw HttpError("response header larger than 1 MiB");
    if (Receive() == 0) return std::nullopt;
  }
}

std::optional<std::string> Connection::ReadChunkedBody() {
  std::string body;
  std::size_t pos = 0;
  for (;;) {
    std::size_t eol;
    while ((eol = buffer_.find("\r\n", pos)) == std::string::npos) {
      if (Receive() == 0) return std::nullopt;
    }
    std::string_view line(buffer_.data() + pos, eol - pos);
    line = line.substr(0, line.find(';'));
    std::size_t size = 0;
    auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
    if (ec != std::errc() || ptr != line.data() + line.size()) throw HttpError("bad chunk size line");
    pos = eol + 2;
    if (size == 0) {
      // Trailer fields, then an empty line.
      for (;;) {
        while ((eol = buffer_.find("\r\n", pos)) == std::string::npos) {
          if (Receive() == 0) return std::nullopt;
        }
        bool empty = eol == pos;
        pos = eol + 2;
        if (empty) break;
      }
      buffer_.erase(0, pos);
      return body;
    }
    if (!FillUntil(pos + size + 2)) return std::nullopt;
    body.append(buffer_, pos, size);
    pos += size + 2;
  }
}

std::optional<HttpResponse> Connection::ReadResponse(bool head_request) {
  for (;;) {
    std::optional<std::size_t> header_end = FindHeaderEnd();
    if (!header_end) return std::nullopt;
    std::string_view head(buffer_.data(), *header_end);
    HttpResponse response;
    std::size_t eol = head.find("\r\n");
    std::string_view status_line = head.substr(0, eol);
    if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12 || status_line[8] != ' ') {
      throw HttpError("not an HTTP/1.x status line: " + std::string(status_line.substr(0, 100)));
    }
    auto [ptr, ec] = std::from_chars(status_line.data() + 9, status_line.data() + 12, response.status);
    if (ec != std::errc() || ptr != status_line.data() + 12) throw HttpError("bad status code");
    if (status_line.size() > 13) response.reason = std::string(status_line.substr(13));
    std::string_view rest = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
    while (!rest.empty()) {
      std::size_t end = rest.find("\r\n");
      std::string_view line = rest.substr(0, end);
      std::size_t colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0) {
        throw HttpError("bad response header line: " + std::string(line.substr(0, 100)));
      }
      response.headers.push_back({std::string(line.substr(0, colon)), std::string(Trim(line.substr(colon + 1)))});
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 2);
    }
    buffer_.erase(0, *header_end + 4);

    if (response.status >= 100 && response.status < 200) continue;  // interim response

    if (head_request || response.status == 204 || response.status == 304) {
      // no body
    } else if (HasToken(response.Header("Transfer-Encoding"), "chunked")) {
      std::optional<std::string> body = ReadChunkedBody();
      if (!body) return std::nullopt;
      response.body = std::move(*body);
    } else if (response.HasHeader("Content-Length")) {
      std::string_view cl = response.Header("Content-Length");
      std::size_t length = 0;
      auto [p, e] = std::from_chars(cl.data(), cl.data() + cl.size(), length);
      if (e != std::errc() || p != cl.data() + cl.size()) throw HttpError("bad Content-Length: " + std::string(cl));
      if (!FillUntil(length)) return std::nullopt;
      response.body = buffer_.substr(0, length);
      buffer_.erase(0, length);
    } else {
      while (Receive() != 0) {
      }
      response.body = std::move(buffer_);
      buffer_.clear();
    }
    if (HasToken(response.Header("Connection"), "close")) closing_ = true;
    return response;
  }
}

HttpResponse Connection::Request(std::string_view method, std::string_view target, const HttpHeaders& headers,
                                 std::string_view body) {
  EnsureConnected();
  std::string request;
  request.reserve(256 + body.size());
  request.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  bool has_host = false;
  bool has_length = false;
  for (const HttpHeader& h : headers) {
    has_host = has_host || EqualsIgnoreCase(h.name, "Host");
    has_length =
        has_length || EqualsIgnoreCase(h.name, "Content-Length") || EqualsIgnoreCase(h.name, "Transfer-Encoding");
    request.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  if (!has_host) request.append("Host: ").append(endpoint_.Authority()).append("\r\n");
  if (!has_length && (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")) {
    request.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  request.append("\r\n").append(body);
  // A server may answer (e.g. 413) and close before it has read all of a large body: still read the answer.
  bool sent = false;
  try {
    sent = SendRaw(request);
  } catch (const HttpError&) {
    // The server stopped reading; it may still have answered.
  }
  std::optional<HttpResponse> response = ReadResponse(method == "HEAD");
  if (!response) {
    throw HttpError("connection closed without a response to " + std::string(method) + " " +
                    std::string(target.substr(0, 200)) + (sent ? "" : " (send failed)"));
  }
  return std::move(*response);
}

bool Connection::WaitForClose(std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (fd_ >= 0 && !peer_closed_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return false;
    Receive();
    buffer_.clear();
  }
  return true;
}

}  // namespace shop::e2e
