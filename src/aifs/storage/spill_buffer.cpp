#include "aifs/storage/spill_buffer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "aifs/core/file_util.h"
#include "aifs/core/random.h"

namespace aifs {

namespace {

GcmNonce BlockNonce(uint64_t index) {
  GcmNonce n{};
  for (int b = 0; b < 8; ++b) n[4 + b] = static_cast<uint8_t>(index >> (56 - 8 * b));
  return n;
}

Status Corrupt(uint64_t index, std::string_view why) {
  return err::DataLoss("SPILL_CORRUPT", "block " + std::to_string(index) +
                                            " of the spill file of an unfinished put " +
                                            std::string(why) + " (changed on disk?)");
}

}  // namespace

SpillBuffer::SpillBuffer(std::string dir, size_t max_memory, size_t block_size)
    : dir_(std::move(dir)), max_memory_(max_memory), block_size_(std::max<size_t>(block_size, 1)) {}

SpillBuffer::~SpillBuffer() { Release(); }

void SpillBuffer::Release() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  SecureWipe(key_.data(), key_.size());
  SecureWipe(memory_.data(), memory_.size());
  SecureWipe(tail_.data(), tail_.size());
  for (CachedBlock& c : cache_) SecureWipe(c.plain.data(), c.plain.size());
  Bytes().swap(memory_);
  Bytes().swap(tail_);
  Bytes().swap(sealed_);
  std::vector<CachedBlock>().swap(cache_);
  blocks_ = 0;
  size_ = 0;
  uses_ = 0;
  broken_ = Status::Ok();
}

Status SpillBuffer::Spill() {
  std::string dir = dir_;
  if (dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    dir = tmp && *tmp ? tmp : "/tmp";
  }
  AIFS_RETURN_IF_ERROR(SecureRandom(key_));
  fd_ = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    // Filesystems without O_TMPFILE: a named file, unlinked at once.
    std::string path = dir + "/.aifs-spill.XXXXXX";
    fd_ = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd_ < 0) return err::FromErrno(errno, "creating a spill file in " + dir);
    ::unlink(path.c_str());
  }
  Bytes held;
  held.swap(memory_);
  size_ = 0;
  Status st = Append(held);
  SecureWipe(held.data(), held.size());
  return st;
}

Status SpillBuffer::WriteBlock(ByteSpan plain) {
  sealed_.clear();
  AIFS_RETURN_IF_ERROR(AesGcmSeal(key_, BlockNonce(blocks_), {}, plain, sealed_));
  AIFS_RETURN_IF_ERROR(WriteAll(fd_, sealed_, "writing a spill file"));
  ++blocks_;
  return Status::Ok();
}

Status SpillBuffer::Append(ByteSpan data) {
  AIFS_RETURN_IF_ERROR(broken_);
  if (fd_ < 0 && memory_.size() + data.size() <= max_memory_) {
    memory_.insert(memory_.end(), data.begin(), data.end());
    size_ += data.size();
    return Status::Ok();
  }
  if (fd_ < 0) {
    Status st = Spill();
    if (!st.ok()) return broken_ = st;
  }
  while (!data.empty()) {
    Status st;
    size_t n;
    if (tail_.empty() && data.size() >= block_size_) {
      n = block_size_;  // a whole block straight from the caller's bytes
      st = WriteBlock(data.first(n));
    } else {
      n = std::min(block_size_ - tail_.size(), data.size());
      tail_.insert(tail_.end(), data.begin(), data.begin() + static_cast<ptrdiff_t>(n));
      if (tail_.size() == block_size_) {
        st = WriteBlock(tail_);
        SecureWipe(tail_.data(), tail_.size());
        tail_.clear();
      }
    }
    if (!st.ok()) return broken_ = st;
    data = data.subspan(n);
    size_ += n;
  }
  return Status::Ok();
}

Result<const uint8_t*> SpillBuffer::Block(uint64_t index) {
  CachedBlock* victim = nullptr;
  for (CachedBlock& c : cache_) {
    if (c.last_use != 0 && c.index == index) {
      c.last_use = ++uses_;
      return c.plain.data();
    }
    if (victim == nullptr || c.last_use < victim->last_use) victim = &c;
  }
  if (cache_.size() < kCachedBlocks) {
    victim = &cache_.emplace_back();
    victim->plain.resize(block_size_);
  }
  victim->last_use = 0;  // empty until it holds `index` authenticated
  const size_t sealed_size = block_size_ + kGcmTagSize;
  sealed_.resize(sealed_size);
  const off_t at = static_cast<off_t>(index * sealed_size);
  size_t got = 0;
  while (got < sealed_size) {
    const ssize_t r =
        ::pread(fd_, sealed_.data() + got, sealed_size - got, at + static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return err::FromErrno(errno, "reading a spill file");
    if (r == 0) return Corrupt(index, "is cut short");
    got += static_cast<size_t>(r);
  }
  if (!AesGcmOpenTo(key_, BlockNonce(index), {}, sealed_, victim->plain.data(), "SPILL_CORRUPT")
           .ok())
    return Corrupt(index, "does not authenticate");
  victim->index = index;
  victim->last_use = ++uses_;
  return victim->plain.data();
}

Status SpillBuffer::ReadAt(uint64_t offset, MutableByteSpan out) {
  AIFS_RETURN_IF_ERROR(broken_);
  AIFS_RETURN_IF_ERROR(CheckRange(offset, out.size()));
  if (fd_ < 0) {
    std::copy_n(memory_.data() + offset, out.size(), out.data());
    return Status::Ok();
  }
  while (!out.empty()) {
    const uint64_t index = offset / block_size_;
    const size_t within = static_cast<size_t>(offset % block_size_);
    const size_t n = std::min(block_size_ - within, out.size());
    const uint8_t* from;
    if (index < blocks_) {
      AIFS_ASSIGN_OR_RETURN(from, Block(index));
    } else {
      from = tail_.data();  // the partial block in RAM
    }
    std::copy_n(from + within, n, out.data());
    out = out.subspan(n);
    offset += n;
  }
  return Status::Ok();
}

}  // namespace aifs
