#pragma once
// A SQLite VFS shim that writes a transaction's WAL frames with one pwrite(2) instead of two per page.
//
// SQLite's WAL writes each frame as two writes, its 24-byte header and then the page
// (wal.c walWriteOneFrame), so a commit of N pages costs 2N system calls. On this project's
// machine system calls are dear (a paravirtualised kernel: entry and exit were ~20% of the server
// core's samples under POST /orders), and pwrite was the commonest call: 10.7 per order
// (perf stat -e 'syscalls:sys_enter_*'; bench/README.md "Orders: where the time goes").
//
// The shim wraps the default VFS ("unix") and, for WAL files only, gathers contiguous writes in a
// buffer that it writes at once:
// - when the page of a commit frame has been given (the frame whose header carries the database size,
//   wal.c's definition of a commit frame): the buffer is written inside that xWrite call, so a failure
//   (disk full, I/O error) is the commit's failure, exactly as without the shim, and the frames are
//   in the file before SQLite publishes the commit in the wal-index (which is the only way another
//   connection learns of them);
// - before any other call on the WAL file (read, sync, truncate, size, file control, close), so
//   SQLite always reads back what it wrote, and a sync covers it;
// - when a write is not contiguous with the buffer, or the buffer passes 4 MiB.
// Frames written before their transaction commits (a page cache spill) are committed by nothing until
// the commit frame, so holding them in memory changes nothing another connection or a crash can see;
// when the transaction ends without a commit (the connection releases the WAL's write lock with frames
// still held), they are dropped, before another writer can append where they were. A WAL is held back
// only when its database file (the same connection's, for that lock) is known: SQLite opens it inside
// the call that locked that file; any other WAL is written through.
// Database and journal files pass through untouched. The technique: write coalescing, as the
// operating system's own write-back or PostgreSQL's wal_writer does for its WAL buffers.
//
// Docs: https://sqlite.org/vfs.html, https://sqlite.org/walformat.html (frame header: bytes 4-7 are
// the database size after a commit frame, zero otherwise).

namespace shop::sql::sqlite {

/// The registered VFS's name, to pass to sqlite3_open_v2. Registers it on first use (thread-safe).
const char* WalWriteCombiningVfs();

}  // namespace shop::sql::sqlite
