#include "wal_write_combining.h"

#include <sqlite3.h>

#include <algorithm>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

namespace shop::sql::sqlite {
namespace {

constexpr int kFrameHeaderBytes = 24;                 // walformat.html: a frame's header
constexpr std::size_t kMaxBuffered = 4 * 1024 * 1024;  // written at once past this, commit or not
constexpr std::size_t kKeptCapacity = 1024 * 1024;     // a buffer larger than this is freed once written

/// What a WAL file holds back: a contiguous run of written bytes not yet in the file.
struct WalBuffer {
  std::vector<unsigned char> bytes;
  sqlite3_int64 offset = 0;       // where bytes[0] goes
  sqlite3_int64 next_append = -1;  // the offset right after the last write: a write there is an append
  bool after_commit_header = false;  // the last write was a commit frame's header: its page comes next

  /// Forgets what is held back, unwritten, and where the last write ended.
  void Drop() {
    bytes.clear();
    next_append = -1;
    after_commit_header = false;
  }
};

struct File {
  sqlite3_file base;   // pMethods: the shim's methods
  sqlite3_file* real;  // the real VFS's file, in the same allocation, after this struct
  WalBuffer* wal;      // a WAL file's held-back writes; null for other files (and a WAL without its database)
  const char* name;    // as given to xOpen: SQLite keeps it valid until xClose
  File* peer;          // a database file's WAL, a WAL's database file (the same connection's), or null
};

constexpr int kWalWriteLock = 0;  // wal.c WAL_WRITE_LOCK: the shm lock slot of the one writer

// The database file this thread locked last. SQLite opens a connection's WAL inside the call that took
// the database file's shared lock (pager.c: pagerOpenWalIfPresent, or PRAGMA journal_mode=WAL), so at
// that xOpen this is the WAL's own database file (checked by name). One connection is used by one
// thread at a time.
thread_local File* t_last_locked = nullptr;

// The database files open now: another thread may have closed the file t_last_locked names (a Database
// closes every thread's connection), so it is looked up here before it is touched.
std::mutex g_open_mu;
std::unordered_set<const File*>& OpenDatabaseFiles() {
  static std::unordered_set<const File*> files;
  return files;
}

sqlite3_vfs* RealVfs(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }
File* Of(sqlite3_file* file) { return reinterpret_cast<File*>(file); }
const sqlite3_io_methods* RealMethods(sqlite3_file* file) { return Of(file)->real->pMethods; }

/// Writes what the WAL holds back. Returns the first failed write's result code.
int Flush(File* f) {
  WalBuffer* w = f->wal;
  if (!w || w->bytes.empty()) return SQLITE_OK;
  // The unix VFS writes at most 0x1ffff bytes per call (os_unix.c seekAndWrite masks the count), so
  // the run goes in pieces of 124 KiB: one pwrite each.
  constexpr std::size_t kPiece = 124 * 1024;
  int rc = SQLITE_OK;
  for (std::size_t done = 0; done < w->bytes.size() && rc == SQLITE_OK; done += kPiece) {
    const std::size_t n = std::min(kPiece, w->bytes.size() - done);
    rc = f->real->pMethods->xWrite(f->real, w->bytes.data() + done, static_cast<int>(n),
                                   w->offset + static_cast<sqlite3_int64>(done));
  }
  w->bytes.clear();
  // A large transaction's buffer is not kept for the connection's life: a commit of orders is ~100 KiB.
  if (w->bytes.capacity() > kKeptCapacity) std::vector<unsigned char>().swap(w->bytes);
  return rc;
}

int Close(sqlite3_file* file) {
  File* f = Of(file);
  if (t_last_locked == f) t_last_locked = nullptr;
  {
    std::lock_guard lock(g_open_mu);
    OpenDatabaseFiles().erase(f);
    if (f->peer) f->peer->peer = nullptr;
  }
  const int flushed = Flush(f);
  const int rc = f->real->pMethods->xClose(f->real);
  delete f->wal;
  f->wal = nullptr;
  return flushed != SQLITE_OK ? flushed : rc;
}

int Read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  if (int rc = Flush(Of(file)); rc != SQLITE_OK) return rc;
  return RealMethods(file)->xRead(Of(file)->real, out, amount, offset);
}

int Write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  File* f = Of(file);
  WalBuffer* w = f->wal;
  if (!w) return f->real->pMethods->xWrite(f->real, data, amount, offset);
  const bool commit_page = w->after_commit_header && amount != kFrameHeaderBytes;
  const auto* bytes = static_cast<const unsigned char*>(data);
  // A commit frame's header carries the database size after the commit (bytes 4-7); others carry 0.
  w->after_commit_header = amount == kFrameHeaderBytes && (bytes[4] | bytes[5] | bytes[6] | bytes[7]) != 0;
  if (offset != w->next_append) {
    // Not an append (the first write after opening, a frame rewritten in place, checksums rewritten
    // at commit): what is held back goes first, then this write, straight to the file.
    w->next_append = offset + amount;
    if (int rc = Flush(f); rc != SQLITE_OK) return rc;
    return f->real->pMethods->xWrite(f->real, data, amount, offset);
  }
  if (w->bytes.empty()) w->offset = offset;
  w->bytes.insert(w->bytes.end(), bytes, bytes + amount);
  w->next_append = offset + amount;
  // The commit frame's page: everything of the transaction goes to the file now, in this call, so that
  // a failure fails the commit and the frames are there before SQLite publishes them.
  if (commit_page || w->bytes.size() >= kMaxBuffered) return Flush(f);
  return SQLITE_OK;
}

int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  File* f = Of(file);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  if (f->wal) f->wal->next_append = -1;
  return RealMethods(file)->xTruncate(f->real, size);
}

int Sync(sqlite3_file* file, int flags) {
  if (int rc = Flush(Of(file)); rc != SQLITE_OK) return rc;
  return RealMethods(file)->xSync(Of(file)->real, flags);
}

int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  if (int rc = Flush(Of(file)); rc != SQLITE_OK) return rc;
  return RealMethods(file)->xFileSize(Of(file)->real, size);
}

int Lock(sqlite3_file* file, int level) {
  t_last_locked = Of(file);
  return RealMethods(file)->xLock(Of(file)->real, level);
}
int Unlock(sqlite3_file* file, int level) { return RealMethods(file)->xUnlock(Of(file)->real, level); }
int CheckReservedLock(sqlite3_file* file, int* out) {
  return RealMethods(file)->xCheckReservedLock(Of(file)->real, out);
}

int FileControl(sqlite3_file* file, int op, void* arg) {
  if (int rc = Flush(Of(file)); rc != SQLITE_OK) return rc;
  return RealMethods(file)->xFileControl(Of(file)->real, op, arg);
}

int SectorSize(sqlite3_file* file) { return RealMethods(file)->xSectorSize(Of(file)->real); }
int DeviceCharacteristics(sqlite3_file* file) { return RealMethods(file)->xDeviceCharacteristics(Of(file)->real); }

int ShmMap(sqlite3_file* file, int page, int page_size, int extend, void volatile** out) {
  return RealMethods(file)->xShmMap(Of(file)->real, page, page_size, extend, out);
}
int ShmLock(sqlite3_file* file, int offset, int n, int flags) {
  File* f = Of(file);
  if (flags == (SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE) && offset <= kWalWriteLock && kWalWriteLock < offset + n &&
      f->peer && f->peer->wal) {
    // The write transaction ends. A commit wrote everything at its commit frame, so what is still held
    // back belongs to a transaction that rolled back: frames past the WAL's end, which the next writer
    // (this connection or another) writes over. Dropped here, before another writer can append, so
    // that they never land on its frames later.
    f->peer->wal->Drop();
  }
  return RealMethods(file)->xShmLock(f->real, offset, n, flags);
}
void ShmBarrier(sqlite3_file* file) { RealMethods(file)->xShmBarrier(Of(file)->real); }
int ShmUnmap(sqlite3_file* file, int delete_flag) { return RealMethods(file)->xShmUnmap(Of(file)->real, delete_flag); }

int Fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  if (int rc = Flush(Of(file)); rc != SQLITE_OK) return rc;
  return RealMethods(file)->xFetch(Of(file)->real, offset, amount, out);
}
int Unfetch(sqlite3_file* file, sqlite3_int64 offset, void* p) {
  return RealMethods(file)->xUnfetch(Of(file)->real, offset, p);
}

/// The same methods at each version a real file may have (SQLite looks at iVersion before it calls
/// the xShm* and xFetch methods).
sqlite3_io_methods MethodsOfVersion(int version) {
  return sqlite3_io_methods{version, Close,  Read,     Write,   Truncate, Sync,  FileSize,
                            Lock,    Unlock, CheckReservedLock, FileControl, SectorSize, DeviceCharacteristics,
                            ShmMap,  ShmLock, ShmBarrier, ShmUnmap, Fetch, Unfetch};
}
const sqlite3_io_methods kMethods[] = {MethodsOfVersion(1), MethodsOfVersion(2), MethodsOfVersion(3)};

int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  File* f = Of(file);
  f->base.pMethods = nullptr;
  f->real = reinterpret_cast<sqlite3_file*>(f + 1);
  f->wal = nullptr;
  f->name = name;
  f->peer = nullptr;
  const int rc = RealVfs(vfs)->xOpen(RealVfs(vfs), name, f->real, flags, out_flags);
  // SQLite calls xClose after a failed xOpen too when pMethods is set; the shim's does the real's.
  if (f->real->pMethods) {
    f->base.pMethods = &kMethods[std::min(std::max(f->real->pMethods->iVersion, 1), 3) - 1];
  }
  if (rc != SQLITE_OK) return rc;
  std::lock_guard lock(g_open_mu);
  if (flags & SQLITE_OPEN_MAIN_DB) OpenDatabaseFiles().insert(f);
  File* db = t_last_locked;
  // Only a WAL whose database file is known is held back: ending a write transaction (ShmLock) must
  // find it. Another (none seen) is written through like any file.
  if ((flags & SQLITE_OPEN_WAL) && name && db && OpenDatabaseFiles().contains(db) && !db->peer && db->name &&
      std::string(db->name) + "-wal" == name) {
    f->wal = new (std::nothrow) WalBuffer();
    if (f->wal) {
      f->peer = db;
      db->peer = f;
    }
  }
  return rc;
}

int Delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  return RealVfs(vfs)->xDelete(RealVfs(vfs), name, sync_dir);
}
int Access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return RealVfs(vfs)->xAccess(RealVfs(vfs), name, flags, out);
}
int FullPathname(sqlite3_vfs* vfs, const char* name, int size, char* out) {
  return RealVfs(vfs)->xFullPathname(RealVfs(vfs), name, size, out);
}
void* DlOpen(sqlite3_vfs* vfs, const char* name) { return RealVfs(vfs)->xDlOpen(RealVfs(vfs), name); }
void DlError(sqlite3_vfs* vfs, int size, char* out) { RealVfs(vfs)->xDlError(RealVfs(vfs), size, out); }
void (*DlSym(sqlite3_vfs* vfs, void* handle, const char* symbol))(void) {
  return RealVfs(vfs)->xDlSym(RealVfs(vfs), handle, symbol);
}
void DlClose(sqlite3_vfs* vfs, void* handle) { RealVfs(vfs)->xDlClose(RealVfs(vfs), handle); }
int Randomness(sqlite3_vfs* vfs, int size, char* out) { return RealVfs(vfs)->xRandomness(RealVfs(vfs), size, out); }
int Sleep(sqlite3_vfs* vfs, int microseconds) { return RealVfs(vfs)->xSleep(RealVfs(vfs), microseconds); }
int CurrentTime(sqlite3_vfs* vfs, double* out) { return RealVfs(vfs)->xCurrentTime(RealVfs(vfs), out); }
int GetLastError(sqlite3_vfs* vfs, int size, char* out) {
  return RealVfs(vfs)->xGetLastError(RealVfs(vfs), size, out);
}
int CurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return RealVfs(vfs)->xCurrentTimeInt64(RealVfs(vfs), out);
}

sqlite3_vfs* Register() {
  sqlite3_vfs* real = sqlite3_vfs_find(nullptr);
  if (!real || real->iVersion < 2) throw std::runtime_error("SQLite has no default VFS of version 2 or later");
  static sqlite3_vfs shim{};
  shim.iVersion = 2;
  shim.szOsFile = static_cast<int>(sizeof(File)) + real->szOsFile;
  shim.mxPathname = real->mxPathname;
  shim.zName = "shop-wal-write-combining";
  shim.pAppData = real;
  shim.xOpen = Open;
  shim.xDelete = Delete;
  shim.xAccess = Access;
  shim.xFullPathname = FullPathname;
  shim.xDlOpen = DlOpen;
  shim.xDlError = DlError;
  shim.xDlSym = DlSym;
  shim.xDlClose = DlClose;
  shim.xRandomness = Randomness;
  shim.xSleep = Sleep;
  shim.xCurrentTime = CurrentTime;
  shim.xGetLastError = GetLastError;
  shim.xCurrentTimeInt64 = CurrentTimeInt64;
  if (int rc = sqlite3_vfs_register(&shim, /*makeDflt=*/0); rc != SQLITE_OK) {
    throw std::runtime_error(std::string("cannot register the SQLite VFS: ") + sqlite3_errstr(rc));
  }
  return &shim;
}

}  // namespace

const char* WalWriteCombiningVfs() {
  static sqlite3_vfs* vfs = Register();
  return vfs->zName;
}

}  // namespace shop::sql::sqlite
