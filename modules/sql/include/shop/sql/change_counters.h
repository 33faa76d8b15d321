#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace shop::sql {

/// Change counters shared by every process that opens one database file: a small memory-mapped
/// file (`<database>-changes`) of N 64-bit slots. A writer bumps the slot of what it changed after
/// the change commits; a cache in any process compares the slot with the value it saw when it read,
/// so instances of a service sharing a SQLite file (WAL mode) never serve what another instance has
/// since changed. Reading a slot is one atomic load from shared memory: no lock, no system call
/// (`PRAGMA data_version` would cost a read transaction on the file per lookup).
/// Only for processes on one machine (one page cache); across machines, see the PostgreSQL issue.
class ChangeCounters {
 public:
  /// Maps `path` (created with mode 0600, sized to `slots` counters) or, for an empty path,
  /// process-private memory. Throws std::system_error when the file cannot be created or mapped.
  static std::unique_ptr<ChangeCounters> Open(const std::string& path, std::size_t slots = 4096);
  ~ChangeCounters();
  ChangeCounters(const ChangeCounters&) = delete;
  ChangeCounters& operator=(const ChangeCounters&) = delete;

  /// The counter of `key`'s slot now (acquire). Keys share slots modulo the slot count, which only
  /// costs a needless miss.
  std::uint64_t Get(std::uint64_t key) const;
  /// Adds one to `key`'s slot (release). Call after the change to `key` has committed.
  void Bump(std::uint64_t key);

 private:
  ChangeCounters(std::uint64_t* slots, std::size_t count, bool mapped);
  std::uint64_t* slots_;
  std::size_t count_;
  bool mapped_;
};

}  // namespace shop::sql
