#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shop::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

/// Parses `debug|info|warn|error`; false when `text` is none of them.
bool ParseLevel(std::string_view text, Level& out);

/// Sets the process-wide service name (a field of every line) and minimum level.
void Configure(std::string service, Level min_level);
bool Enabled(Level level);
/// Changes the minimum level from now on (the hot setting `log.level`). Thread-safe.
void SetLevel(Level min_level);

/// One field of a log line. Numbers are written as JSON numbers, text as JSON strings.
/// Text is referenced, not copied: a Field lives only for the Write call it is passed to.
class Field {
 public:
  Field(std::string_view k, std::string_view v) : key_(k), value_(v) {}
  Field(std::string_view k, const char* v) : key_(k), value_(v) {}
  Field(std::string_view k, const std::string& v) : key_(k), value_(v) {}
  Field(std::string_view k, long long v);
  Field(std::string_view k, int v) : Field(k, static_cast<long long>(v)) {}
  Field(std::string_view k, double v);  ///< written with 3 decimals
  Field(const Field& other);
  Field& operator=(const Field&) = delete;

  std::string_view key() const { return key_; }
  std::string_view value() const { return value_; }
  bool quoted() const { return quoted_; }

 private:
  std::string_view key_;
  std::string_view value_;
  bool quoted_ = true;
  char number_[32];  // numbers are formatted here, and value_ points into it
};

/// Writes one JSON object line to stdout now: {"time","level","service","msg",...fields}. A field named
/// like one of the first four is written as "field_<name>", so every name in a line is unique.
void Write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

/// Like Write, but keeps the line in a per-thread buffer that is written out whole when it fills
/// or on FlushThisThread(): one write(2) per many request lines, and lines never interleave.
/// The owner of the thread must call FlushThisThread() regularly.
void WriteBuffered(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

/// Writes out the calling thread's buffered lines.
void FlushThisThread();

}  // namespace shop::log
