#include "shop/core/text.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <iterator>

namespace shop::text {

/// The code points of `text`, or nullopt unless it is well-formed UTF-8 (no overlong forms,
/// surrogates or values past U+10FFFF).
std::optional<std::vector<CodePoint>> DecodeUtf8(std::string_view text) {
  std::vector<CodePoint> out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    char32_t value = 0;
    char32_t smallest = 0;
    if (lead < 0x80) {
      length = 1;
      value = lead;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2;
      value = lead & 0x1Fu;
      smallest = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      value = lead & 0x0Fu;
      smallest = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      value = lead & 0x07u;
      smallest = 0x10000;
    } else {
      return std::nullopt;
    }
    if (length > text.size() - i) return std::nullopt;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return std::nullopt;
      value = (value << 6) | (next & 0x3Fu);
    }
    if (value < smallest || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return std::nullopt;
    out.push_back({value, i, i + length});
    i += length;
  }
  return out;
}

/// Unicode White_Space.
bool IsWhitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/// Unicode general category Cc (C0, DEL, C1).
bool IsControl(char32_t c) { return c < 0x20 || (c >= 0x7F && c <= 0x9F); }

std::optional<TrimmedText> DecodeTrimmed(std::string_view raw) {
  auto decoded = DecodeUtf8(raw);
  if (!decoded) return std::nullopt;
  auto first = std::ranges::find_if_not(*decoded, [](const CodePoint& c) { return IsWhitespace(c.value); });
  auto last = std::find_if_not(decoded->rbegin(), std::make_reverse_iterator(first), [](const CodePoint& c) {
                return IsWhitespace(c.value);
              }).base();
  if (first == last) return TrimmedText{};
  return TrimmedText{std::string(raw.substr(first->begin, (last - 1)->end - first->begin)),
                     std::vector<CodePoint>(first, last)};
}

namespace {

/// Bytes that cannot be copied into a JSON string as they are: controls, quote, backslash, DEL
/// and everything non-ASCII (checked as UTF-8). A table: this runs for every byte of every log line.
constexpr std::array<bool, 256> kNeedsCare = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c) table[static_cast<std::size_t>(c)] = c < 0x20 || c == '"' || c == '\\' || c >= 0x7f;
  return table;
}();

bool NeedsCare(unsigned char c) { return kNeedsCare[c]; }

/// True when any of the 8 bytes at `p` needs care (the table above, word at a time: a log line's values
/// are checked 8 bytes per step instead of 1).
bool AnyNeedsCare(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  constexpr std::uint64_t kOnes = 0x0101010101010101ull;
  constexpr std::uint64_t kHigh = 0x8080808080808080ull;
  auto has_zero = [](std::uint64_t x) { return (x - kOnes) & ~x & kHigh; };
  const std::uint64_t below_space = (w - kOnes * 0x20) & ~w & kHigh;  // a byte < 0x20 (bytes >= 0x80 caught next)
  return ((w & kHigh) | below_space | has_zero(w ^ (kOnes * '"')) | has_zero(w ^ (kOnes * '\\')) |
          has_zero(w ^ (kOnes * 0x7f))) != 0;
}

/// The length of the valid UTF-8 sequence starting at text[i] (a byte >= 0x80), or 0.
std::size_t ValidSequenceLength(std::string_view text, std::size_t i) {
  const auto c = static_cast<unsigned char>(text[i]);
  const std::size_t length = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (length == 0 || length > text.size() - i) return 0;
  return DecodeUtf8(text.substr(i, length)).has_value() ? length : 0;
}

}  // namespace

void AppendJsonEscaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t i = 0;
  while (i < text.size()) {
    // Copy the longest run that needs no escaping in one go (the common case is all of it).
    std::size_t run = i;
    while (run + 8 <= text.size() && !AnyNeedsCare(text.data() + run)) run += 8;
    while (run < text.size() && !NeedsCare(static_cast<unsigned char>(text[run]))) ++run;
    out.append(text.data() + i, run - i);
    i = run;
    if (i == text.size()) break;
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      // A multi-byte sequence: copied whole when valid, else one replacement character per bad byte.
      if (const std::size_t length = ValidSequenceLength(text, i)) {
        out.append(text.substr(i, length));
        i += length;
      } else {
        out += "\\ufffd";
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
    }
    ++i;
  }
}

}  // namespace shop::text
