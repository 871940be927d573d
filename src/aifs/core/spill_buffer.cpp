#include "aifs/core/spill_buffer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace aifs {

SpillBuffer::SpillBuffer(std::string dir, size_t max_memory)
    : dir_(std::move(dir)), max_memory_(max_memory) {}

SpillBuffer::~SpillBuffer() { Release(); }

void SpillBuffer::Release() {
  if (map_ != nullptr) munmap(map_, map_size_);
  map_ = nullptr;
  map_size_ = 0;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  Bytes().swap(memory_);
  size_ = 0;
}

Status SpillBuffer::Spill() {
  std::string dir = dir_;
  if (dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    dir = tmp && *tmp ? tmp : "/tmp";
  }
  fd_ = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    // Filesystems without O_TMPFILE: a named file, unlinked at once.
    std::string path = dir + "/.aifs-spill.XXXXXX";
    fd_ = mkostemp(path.data(), O_CLOEXEC);
    if (fd_ < 0) return err::FromErrno(errno, "creating a spill file in " + dir);
    unlink(path.c_str());
  }
  const Bytes held = std::move(memory_);
  Bytes().swap(memory_);
  size_ = 0;
  const size_t n = held.size();
  return n == 0 ? Status::Ok() : Append(ByteSpan(held.data(), n));
}

Status SpillBuffer::Append(ByteSpan data) {
  if (map_ != nullptr) {
    munmap(map_, map_size_);
    map_ = nullptr;
  }
  if (fd_ < 0 && memory_.size() + data.size() <= max_memory_) {
    memory_.insert(memory_.end(), data.begin(), data.end());
    size_ += data.size();
    return Status::Ok();
  }
  if (fd_ < 0) AIFS_RETURN_IF_ERROR(Spill());
  while (!data.empty()) {
    const ssize_t w = write(fd_, data.data(), data.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      return err::FromErrno(errno, "writing a spill file");
    }
    data = data.subspan(static_cast<size_t>(w));
    size_ += static_cast<uint64_t>(w);
  }
  return Status::Ok();
}

Result<ByteSpan> SpillBuffer::View() {
  if (fd_ < 0) return ByteSpan(memory_.data(), memory_.size());
  if (size_ == 0) return ByteSpan();
  if (map_ == nullptr) {
    void* m = mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
    if (m == MAP_FAILED) return err::FromErrno(errno, "mapping a spill file");
    map_ = m;
    map_size_ = size_;
  }
  return ByteSpan(static_cast<const uint8_t*>(map_), map_size_);
}

}  // namespace aifs
