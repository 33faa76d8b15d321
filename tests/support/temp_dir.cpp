#include "temp_dir.h"

#include "shop/core/random.h"

namespace shop::testing {

TempDir::TempDir() : path_(std::filesystem::temp_directory_path() / ("shop-test-" + RandomHex(8))) {
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace shop::testing
