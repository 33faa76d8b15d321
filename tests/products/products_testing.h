#pragma once

#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include "shop/core/principal.h"
#include "shop/products/products.h"
#include "shop/sql/database.h"
#include "temp_dir.h"
#include "test_database.h"

/// What the products test files share: the callers, a name for every outcome, and the in-process
/// service over a fresh database.
namespace shop::products::testing {

inline const Principal kAdmin{1, Role::kAdmin};
inline const Principal kCustomer{2, Role::kCustomer};

/// The API's code for an error, so a failing check prints what came back.
inline std::string_view CodeName(Errc code) {
  switch (code) {
    case Errc::kValidationFailed:
      return "validation_failed";
    case Errc::kSkuTaken:
      return "sku_taken";
    case Errc::kNotFound:
      return "not_found";
    case Errc::kForbidden:
      return "forbidden";
    case Errc::kUnknownProduct:
      return "unknown_product";
    case Errc::kInsufficientStock:
      return "insufficient_stock";
    case Errc::kReservationReleased:
      return "reservation_released";
    case Errc::kUnavailable:
      return "dependency_unavailable";
  }
  return "?";
}

/// "ok" for a value, else the error's code name.
template <class T>
std::string Outcome(const std::expected<T, Error>& result) {
  return result ? "ok" : std::string(CodeName(result.error().code));
}

/// The error's detail, empty for a value.
template <class T>
std::string Detail(const std::expected<T, Error>& result) {
  return result ? std::string() : result.error().detail;
}

/// The in-process service over its own database file in a temporary directory.
class InProcessService {
 public:
  InProcessService() { Open(); }
  /// Another instance on `other`'s database, as a second process of the service would be.
  explicit InProcessService(const InProcessService& other, int /*instance*/) : location_(other.location_) { Open(); }

  Api& api() { return *api_; }
  Service& service() { return *api_; }
  sql::Database& db() { return *db_; }
  /// Where its data is: a file, or a PostgreSQL URL (with its password, unlike db().path()).
  const std::string& location() const { return location_; }

  /// Closes the database and opens the same file again, as a restarted process would.
  void Reopen() {
    api_.reset();
    db_.reset();
    Open();
  }

 private:
  void Open() {
    db_ = sql::Database::Open({.path = location_}, EmbeddedMigrations());
    api_ = MakeService(*db_);
  }

  shop::testing::TempDir dir_;
  std::string location_ = shop::testing::FreshDatabase(dir_.path(), "products.db");  // a file, or a PostgreSQL database
  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<Service> api_;
};

}  // namespace shop::products::testing
