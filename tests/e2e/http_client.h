#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

/// A small blocking HTTP/1.1 client over POSIX sockets, for talking to a server under test.
/// Every wait is bounded: a server that hangs makes the call throw instead of hanging the suite.
namespace shop::e2e {

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;

  /// The value of the Host header: `host:port`.
  std::string Authority() const;
};

/// `http://host:port` (a trailing `/` is allowed); throws std::invalid_argument for anything else.
Endpoint ParseBaseUrl(std::string_view url);

struct HttpHeader {
  std::string name;
  std::string value;
};
using HttpHeaders = std::vector<HttpHeader>;

struct HttpResponse {
  int status = 0;
  std::string reason;
  HttpHeaders headers;
  std::string body;

  /// The first value of `name` (case-insensitive), empty when absent.
  std::string_view Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  std::size_t HeaderCount(std::string_view name) const;
  /// The body parsed as JSON (once; the reference lives as long as this response). Throws HttpError
  /// naming the body when it is not JSON.
  const boost::json::value& Json() const;

 private:
  mutable std::optional<boost::json::value> json_;
};

/// A transport failure: cannot connect, timed out, or the server sent something that is not HTTP.
class HttpError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b);

/// One keep-alive TCP connection. Not thread-safe: one per thread.
class Connection {
 public:
  /// Connects now; `timeout` bounds the connect and every later send and receive.
  explicit Connection(Endpoint endpoint, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~Connection();
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Sends one request and reads its response. Adds Host and, when there is a body or the method is
  /// POST/PUT/PATCH, Content-Length, unless `headers` already has them. Reconnects first if the
  /// server has closed the connection. Throws HttpError on timeout or when no response comes back.
  HttpResponse Request(std::string_view method, std::string_view target, const HttpHeaders& headers = {},
                       std::string_view body = {});

  // Raw mode, for hostile input.

  /// Writes `bytes` as they are. False when the server has closed or reset the connection.
  bool SendRaw(std::string_view bytes);
  /// The next response, or nullopt when the server closes the connection before a whole one.
  /// Throws HttpError on timeout or when the bytes are not an HTTP response.
  std::optional<HttpResponse> ReadResponse(bool head_request = false);
  /// Reads and discards until the server closes the connection; false if it is still open at `wait`.
  bool WaitForClose(std::chrono::milliseconds wait);

  /// True while this side has not closed and has not seen the server close.
  bool open() const { return fd_ >= 0 && !peer_closed_; }
  /// True when the last response said `Connection: close` (the next request reconnects).
  bool closing() const { return closing_; }
  void Close();
  const Endpoint& endpoint() const { return endpoint_; }

 private:
  void Connect();
  void EnsureConnected();
  /// Appends what arrives to buffer_; 0 on EOF or reset. Throws on timeout.
  std::size_t Receive();
  bool FillUntil(std::size_t size);
  std::optional<std::size_t> FindHeaderEnd();
  std::optional<std::string> ReadChunkedBody();

  Endpoint endpoint_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  bool peer_closed_ = false;  // EOF or reset seen
  bool closing_ = false;      // the server announced Connection: close
  std::string buffer_;        // received, not yet consumed
};

}  // namespace shop::e2e
