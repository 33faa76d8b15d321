// Boost.JSON's compiled part, built into every harness with the harnesses' instrumentation, so that
// libFuzzer sees coverage inside the JSON parser (Debian's libboost_json.so has none). The
// executable's definitions take precedence over the shared library's.
#include <boost/json/src.hpp>
