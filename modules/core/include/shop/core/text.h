#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// Unicode text as the API's validation rules see it: UTF-8 decoding, trimming, character counts,
/// and JSON string escaping.
namespace shop::text {

/// One code point of a UTF-8 string and where its bytes are.
struct CodePoint {
  char32_t value;
  std::size_t begin;
  std::size_t end;
};

/// The code points of `text`, or nullopt unless it is well-formed UTF-8 (no overlong forms,
/// surrogates or values past U+10FFFF).
std::optional<std::vector<CodePoint>> DecodeUtf8(std::string_view text);

/// Unicode White_Space.
bool IsWhitespace(char32_t c);

/// Unicode general category Cc (C0, DEL, C1).
bool IsControl(char32_t c);

/// Text with whitespace removed from both ends: its bytes and its code points.
struct TrimmedText {
  std::string bytes;
  std::vector<CodePoint> code_points;
};

/// `raw` decoded and trimmed of Unicode whitespace; nullopt unless it is valid UTF-8.
std::optional<TrimmedText> DecodeTrimmed(std::string_view raw);

/// Appends `text` as the inside of a JSON string: quotes, backslashes and control characters are
/// escaped, valid UTF-8 is kept as it is, and bytes that are not valid UTF-8 become U+FFFD.
void AppendJsonEscaped(std::string& out, std::string_view text);

}  // namespace shop::text
