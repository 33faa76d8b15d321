#include "shop/runtime/runtime.h"

#include <exception>
#include <iostream>
#include <stdexcept>

#include "shop/platform/log.h"

namespace shop::runtime {

void AddServerFlags(Flags& flags, std::string default_port) {
  flags.Add("host", "ADDR", "address to listen on", "127.0.0.1", "SHOP_HOST");
  flags.Add("port", "PORT", "TCP port to listen on (0: any free port)", std::move(default_port), "SHOP_PORT");
  flags.Add("threads", "N", "server threads; 0 means one per core", "0", "SHOP_THREADS");
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
  return options;
}

int Serve(http::App& app, const http::ServerOptions& options) {
  app.Seal();
  http::Server server(options, app);
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
