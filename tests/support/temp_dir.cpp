#include "temp_dir.h"

#include <cstdlib>

#include "shop/core/random.h"

namespace shop::testing {

TempDir::TempDir() : path_(std::filesystem::temp_directory_path() / ("shop-test-" + RandomHex(8))) {
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  // SHOP_KEEP_TEST_DIRS=1 keeps them (logs, databases) for a look after a failure.
  if (const char* keep = std::getenv("SHOP_KEEP_TEST_DIRS"); keep && *keep == '1') return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace shop::testing
