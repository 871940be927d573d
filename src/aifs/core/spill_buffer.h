// SpillBuffer: an append-only byte buffer that keeps at most `max_memory`
// bytes in RAM and moves everything to an unnamed temporary file beyond that.
//
// For data that must be seen whole before it can be judged (a ZIP's central
// directory sits at its end) but may be large, and may arrive slowly from
// many clients at once: the server's memory stays bounded by max_memory per
// buffer whatever the sizes. The file is created with O_TMPFILE (or created
// and unlinked at once where that is unsupported), so it never has a name,
// nothing else can open it, and the kernel frees its blocks when the buffer
// is destroyed or the process dies. Its bytes are NOT encrypted: they exist
// while one put is in flight, like the plaintext in RAM they replace.
//
// Not thread-safe (one writer).
#pragma once

#include <cstddef>
#include <string>

#include "aifs/core/bytes.h"
#include "aifs/core/status.h"

namespace aifs {

class SpillBuffer {
 public:
  // `dir`: where the file goes (empty: $TMPDIR, else /tmp).
  SpillBuffer(std::string dir, size_t max_memory);
  ~SpillBuffer();
  SpillBuffer(const SpillBuffer&) = delete;
  SpillBuffer& operator=(const SpillBuffer&) = delete;

  // Errors from the file (STORAGE_FULL when the disk is full, ...).
  Status Append(ByteSpan data);
  uint64_t size() const { return size_; }
  bool spilled() const { return fd_ >= 0; }

  // The whole content, valid until the next Append or Release (a read-only
  // mapping of the file once spilled).
  Result<ByteSpan> View();

  // Frees the memory, the mapping and the file.
  void Release();

 private:
  Status Spill();

  const std::string dir_;
  const size_t max_memory_;
  Bytes memory_;
  int fd_ = -1;
  uint64_t size_ = 0;
  void* map_ = nullptr;
  size_t map_size_ = 0;
};

}  // namespace aifs
