// BOOST_ASSERT in a fuzz build (BOOST_ENABLE_ASSERT_HANDLER, see flags.cmake): every failed assertion
// of Boost (Beast's parser among them) and of the project ends the run as a finding, as assert()
// would, except one assertion Boost itself has since found to be wrong.

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace boost {

void assertion_failed(char const* expr, char const* function, char const* file, long line) {
  // boostorg/beast#2861 (fixed in Boost 1.86; Debian 12 has 1.81): the final chunk of a chunked body
  // may be parsed again with fewer than 5 bytes ("0\r\n" plus one byte when it is the first chunk);
  // the code after the assertion handles that (it asks for more), only the assertion is wrong.
  if (std::strcmp(expr, "n >= 5") == 0 && std::strstr(file, "beast/http/impl/basic_parser.ipp") != nullptr) return;
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed.\n", file, line, function, expr);
  std::abort();
}

void assertion_failed_msg(char const* expr, char const* msg, char const* function, char const* file, long line) {
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed: %s\n", file, line, function, expr, msg);
  std::abort();
}

}  // namespace boost
