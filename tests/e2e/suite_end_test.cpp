// Runs last (doctest --order-by=file): the state of the server after everything the suite did.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <csignal>
#include <sstream>
#include <string>

#include "api_client.h"
#include "server_harness.h"

namespace shop::e2e {

TEST_SUITE("suite end") {
  TEST_CASE("after the whole suite: still ready, and no 5xx was ever answered") {
    Api api;
    CHECK(api.Get("/health/ready").status == 200);
    CHECK(ServerErrorsSeen() == 0);

    TestServer& server = TestServer::Get();
    if (!server.managed()) return;
    // The log also covers what raw-socket tests sent.
    std::istringstream log(server.process().ReadStdout());
    int server_errors = 0;
    for (std::string line; std::getline(log, line);) {
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(line, ec);
      if (ec || !v.is_object()) continue;
      const boost::json::value* status = v.as_object().if_contains("status");
      if (status != nullptr && status->is_int64() && status->as_int64() >= 500) {
        ++server_errors;
        FAIL_CHECK("5xx in the server log: ", line.substr(0, 500));
      }
    }
    CHECK(server_errors == 0);
  }

  // The very last case: it stops the server. Sanitizer findings in the server (the ASan + UBSan build
  // of tests/run.sh's sanitizer stage) end it with SIGABRT and a report on its stderr, which goes to a
  // file nobody else reads; LeakSanitizer only reports when the process exits. Restarts check the exit
  // status, but nothing did for the final stop, nor for a report printed before a crash mid-suite.
  TEST_CASE("at the end: SIGTERM stops the server with exit code 0, and its stderr holds no sanitizer report") {
    TestServer& server = TestServer::Get();
    if (!server.managed()) return;
    if (server.process().running()) {  // also when it died unreaped: Stop() then reports how it ended
      ExitStatus stopped = server.process().Stop(SIGTERM);
      CHECK_MESSAGE(stopped.Clean(), "shop on SIGTERM at the end of the suite: ", stopped.Describe());
    }
    // Every start of the suite appends to the same stderr file.
    const std::string report = SanitizerReport(server.process().ReadStderr());
    CHECK_MESSAGE(report.empty(), "sanitizer report on the server's stderr:\n", report);
  }
}

}  // namespace shop::e2e
