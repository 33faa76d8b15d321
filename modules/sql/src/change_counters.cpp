#include "shop/sql/change_counters.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <system_error>

namespace shop::sql {

static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free,
              "shared-memory counters need lock-free 64-bit atomics to work across processes");

std::unique_ptr<ChangeCounters> ChangeCounters::Open(const std::string& path, std::size_t slots) {
  const std::size_t bytes = slots * sizeof(std::uint64_t);
  if (path.empty()) {
    return std::unique_ptr<ChangeCounters>(new ChangeCounters(new std::uint64_t[slots](), slots, false));
  }
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "cannot open " + path);
  struct stat st {};
  // Growing a new file reads as zeros; several processes doing it at once agree on the size.
  if (::fstat(fd, &st) != 0 || (static_cast<std::size_t>(st.st_size) < bytes && ::ftruncate(fd, static_cast<off_t>(bytes)) != 0)) {
    const int error = errno;
    ::close(fd);
    throw std::system_error(error, std::generic_category(), "cannot size " + path);
  }
  void* memory = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int error = errno;
  ::close(fd);
  if (memory == MAP_FAILED) throw std::system_error(error, std::generic_category(), "cannot map " + path);
  return std::unique_ptr<ChangeCounters>(new ChangeCounters(static_cast<std::uint64_t*>(memory), slots, true));
}

ChangeCounters::ChangeCounters(std::uint64_t* slots, std::size_t count, bool mapped)
    : slots_(slots), count_(count), mapped_(mapped) {}

ChangeCounters::~ChangeCounters() {
  if (mapped_) {
    ::munmap(slots_, count_ * sizeof(std::uint64_t));
  } else {
    delete[] slots_;
  }
}

std::uint64_t ChangeCounters::Get(std::uint64_t key) const {
  return std::atomic_ref<std::uint64_t>(slots_[key % count_]).load(std::memory_order_acquire);
}

void ChangeCounters::Bump(std::uint64_t key) {
  std::atomic_ref<std::uint64_t>(slots_[key % count_]).fetch_add(1, std::memory_order_release);
}

}  // namespace shop::sql
