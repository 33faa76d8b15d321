#pragma once

// The one shape of a module's error table: its error codes and the problem status and `code` each
// travels as, read in both directions. The module's routes answer a failure with it, and the module's
// HTTP client reads a problem answer back into the failure with the same table, so the two cannot
// drift apart. A module declares it in its wire.h:
//
//   inline constexpr http::ErrorMapping<Errc> kErrorRows[] = {{Errc::kNotFound, 404, "not_found"}, ...};
//   inline constexpr http::ErrorTable<Errc> kErrors(kErrorRows);
//   static_assert(kErrors.Complete(Errc::kLastOne));

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "shop/core/error.h"
#include "shop/http/message.h"

namespace shop::http {

/// How one error code is answered: HTTP status and the API's stable code.
struct ProblemCode {
  int status;
  std::string_view code;
};

/// One row of a module's error table.
template <class Errc>
struct ErrorMapping {
  Errc errc;
  int status;
  std::string_view code;
};

/// What this product reads of a problem answer (RFC 9457): the response's status, `code` and `detail`.
struct ProblemAnswer {
  int status = 0;
  std::string code;
  std::string detail;  ///< empty when absent
};

/// The problem a response carries: a JSON object with a string `code` and, optionally, a string
/// `detail`. Other members are ignored (RFC 9457 lets a problem carry extensions, and a newer
/// version may add some), and so is the body's `status`: the response's is the one that counts.
/// nullopt when the body is not such an object.
std::optional<ProblemAnswer> ReadProblem(const Response& response);

/// A view of a module's table (kErrorRows above), with both directions. The first row of an Errc is
/// how it is answered; a later row with the same Errc is a status and code that is only read back as
/// it (answers given before the module's domain is reached, such as 401 `unauthenticated`).
template <class Errc>
class ErrorTable {
 public:
  template <std::size_t N>
  constexpr ErrorTable(const ErrorMapping<Errc> (&rows)[N]) : rows_(rows) {}  // NOLINT(google-explicit-constructor)

  /// The status and code `errc` is answered with; 500 `internal` for a value with no row.
  constexpr ProblemCode ProblemFor(Errc errc) const {
    for (const ErrorMapping<Errc>& row : rows_) {
      if (row.errc == errc) return {row.status, row.code};
    }
    return {500, "internal"};
  }

  /// The Errc an answer with this status and code stands for; nullopt when no row has both.
  constexpr std::optional<Errc> ErrcFor(int status, std::string_view code) const {
    for (const ErrorMapping<Errc>& row : rows_) {
      if (row.status == status && row.code == code) return row.errc;
    }
    return std::nullopt;
  }

  /// True when every Errc from the first enumerator (0) through `last` has a row, each is read back
  /// as itself, and no status and code pair is in two rows. For a static_assert beside the table.
  constexpr bool Complete(Errc last) const {
    for (std::size_t i = 0; i <= static_cast<std::size_t>(last); ++i) {
      const auto errc = static_cast<Errc>(i);
      const ProblemCode answered = ProblemFor(errc);
      if (answered.status == 500 || ErrcFor(answered.status, answered.code) != errc) return false;
    }
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      if (static_cast<std::size_t>(rows_[i].errc) > static_cast<std::size_t>(last)) return false;
      for (std::size_t j = i + 1; j < rows_.size(); ++j) {
        if (rows_[i].status == rows_[j].status && rows_[i].code == rows_[j].code) return false;
      }
    }
    return true;
  }

  /// The problem response for a failure: the table's status and code, the failure's detail (the
  /// status's reason phrase when it has none).
  Response Problem(const Failure<Errc>& failure) const {
    const ProblemCode answered = ProblemFor(failure.code);
    return http::Problem(answered.status, answered.code,
                         failure.detail.empty() ? ReasonPhrase(answered.status) : std::string_view(failure.detail));
  }

  /// The failure a problem answer stands for, with its detail; nullopt when the response is not a
  /// problem or its status and code are not in the table.
  std::optional<Failure<Errc>> FailureFrom(const Response& response) const {
    std::optional<ProblemAnswer> problem = ReadProblem(response);
    if (!problem) return std::nullopt;
    std::optional<Errc> errc = ErrcFor(problem->status, problem->code);
    if (!errc) return std::nullopt;
    return Failure<Errc>(*errc, std::move(problem->detail));
  }

 private:
  std::span<const ErrorMapping<Errc>> rows_;
};

}  // namespace shop::http
