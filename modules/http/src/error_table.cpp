#include "shop/http/error_table.h"

#include "shop/json/reader.h"

namespace shop::http {

std::optional<ProblemAnswer> ReadProblem(const Response& response) {
  auto object = json::ParseObject(response.body);
  if (!object) return std::nullopt;
  json::ObjectReader reader(*object, json::ObjectReader::Strictness::kIgnoreUnknown);
  std::optional<std::string> code = reader.String("code");
  std::optional<std::string> detail = reader.String("detail", false);
  if (reader.Finish()) return std::nullopt;
  return ProblemAnswer{response.status, std::move(*code), std::move(detail).value_or(std::string())};
}

}  // namespace shop::http
