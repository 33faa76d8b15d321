#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace shop::auth {

/// base64url without padding (RFC 4648 §5), as JOSE uses it.
std::string Base64UrlEncode(std::string_view bytes);
/// Strict decoding: padding, whitespace or non-alphabet characters are rejected.
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace shop::auth
