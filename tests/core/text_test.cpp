#include "shop/core/text.h"

#include <doctest/doctest.h>

using namespace shop::text;

TEST_CASE("JSON escaping keeps valid UTF-8 and makes every string valid JSON") {
  auto escaped = [](std::string_view in) {
    std::string out;
    AppendJsonEscaped(out, in);
    return out;
  };
  CHECK(escaped("plain") == "plain");
  CHECK(escaped("a\"b\\c\nd\te\r") == "a\\\"b\\\\c\\nd\\te\\r");
  CHECK(escaped(std::string_view("\x01\x1f\x7f", 3)) == "\\u0001\\u001f\\u007f");
  CHECK(escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  CHECK(escaped("bad \xff end") == "bad \\ufffd end");
  CHECK(escaped("cut \xe2\x82") == "cut \\ufffd\\ufffd");
  CHECK(escaped("overlong \xc0\xaf") == "overlong \\ufffd\\ufffd");
}

TEST_CASE("UTF-8 decoding rejects overlong forms, surrogates and truncation") {
  CHECK(DecodeUtf8("h\xc3\xa9")->size() == 2);
  CHECK_FALSE(DecodeUtf8("\xc0\xaf").has_value());
  CHECK_FALSE(DecodeUtf8("\xed\xa0\x80").has_value());
  CHECK_FALSE(DecodeUtf8("\xf4\x90\x80\x80").has_value());
  CHECK_FALSE(DecodeUtf8("\xe2\x82").has_value());
}

TEST_CASE("trimming removes Unicode whitespace at both ends only") {
  auto t = DecodeTrimmed("\xc2\xa0 a b\t\n");
  REQUIRE(t.has_value());
  CHECK(t->bytes == "a b");
  CHECK(t->code_points.size() == 3);
  CHECK(DecodeTrimmed("   ")->code_points.empty());
  CHECK(IsControl(0x85));
  CHECK_FALSE(IsControl(U'\u00e9'));
}

TEST_CASE("JSON escaping finds a byte that needs care at any place of a long string") {
  // Long strings are checked 8 bytes at a time: every position of a word, and the tail after the words.
  using std::string_view_literals::operator""sv;
  for (const std::string_view special : {"\""sv, "\\"sv, "\n"sv, "\x01"sv, "\x7f"sv, "\xc3\xa9"sv, "\xff"sv}) {
    for (std::size_t at = 0; at < 20; ++at) {
      std::string in(20, 'x');
      in.replace(at, 1, special);
      std::string out;
      AppendJsonEscaped(out, in);
      std::string expected(at, 'x');
      AppendJsonEscaped(expected, special);
      expected.append(in.size() - at - special.size(), 'x');
      CAPTURE(at);
      CHECK(out == expected);
    }
  }
  std::string out;
  AppendJsonEscaped(out, "0123456789abcdef0123456789ABCDEF-_.");
  CHECK(out == "0123456789abcdef0123456789ABCDEF-_.");
}
