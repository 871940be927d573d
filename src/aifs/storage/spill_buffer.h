// SpillBuffer: an append-only byte buffer that keeps at most `max_memory`
// bytes in RAM and moves the rest, encrypted, to an unnamed temporary file;
// it reads back at any offset (a RandomAccessReader).
//
// For data that must be seen whole before it can be judged (a ZIP's central
// directory sits at its end) but may be large and may arrive slowly from many
// clients at once: memory stays bounded whatever the sizes, and the disk
// never holds the bytes in clear.
//
// The file is created with O_TMPFILE (or created and unlinked at once where
// that is unsupported), so it never has a name and the kernel frees its
// blocks when the buffer is released or the process dies. It holds the data
// in blocks of block_size bytes, block i at offset i * (block_size + 16),
// each sealed with AES-256-GCM under a key drawn at random for this buffer
// and kept only in memory (wiped on Release), nonce = 4 zero bytes || i
// (u64 big-endian), no AAD: ciphertext || 16-byte tag. Only whole blocks are
// written, each once (the last, partial block stays in RAM), so a nonce is
// never used twice under a key and any block reads back and authenticates on
// its own. A block changed, swapped or cut on disk reads as DATA_LOSS
// SPILL_CORRUPT, never as data. (Storage floor because of the cipher; it is
// not a store format: nothing outlives the buffer.)
//
// Memory: up to max_memory before the first spill; after it, the partial
// block being filled, one sealed block of scratch and kCachedBlocks
// decrypted blocks for reads (384 KiB with the default block size),
// whatever the size.
//
// Not thread-safe (one writer, then one reader; appending after reading is
// allowed).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "aifs/core/random_access.h"
#include "aifs/storage/aead.h"

namespace aifs {

class SpillBuffer final : public RandomAccessReader {
 public:
  static constexpr size_t kDefaultBlockSize = size_t{64} << 10;
  static constexpr size_t kCachedBlocks = 4;

  // `dir`: where the file goes (empty: $TMPDIR, else /tmp). `block_size`:
  // the unit of encryption (at least 1; small ones are for tests).
  SpillBuffer(std::string dir, size_t max_memory, size_t block_size = kDefaultBlockSize);
  ~SpillBuffer() override;
  SpillBuffer(const SpillBuffer&) = delete;
  SpillBuffer& operator=(const SpillBuffer&) = delete;

  // Errors from the file (RESOURCE_EXHAUSTED STORAGE_FULL when the disk is
  // full, ...). After an error the buffer keeps failing with it.
  Status Append(ByteSpan data);
  uint64_t size() const override { return size_; }
  bool spilled() const { return fd_ >= 0; }

  // RandomAccessReader. DATA_LOSS SPILL_CORRUPT when a block on disk does not
  // authenticate or is missing; I/O errors of the file as they are.
  Status ReadAt(uint64_t offset, MutableByteSpan out) override;

  // Frees the memory, the key and the file; the buffer is then empty.
  void Release();

 private:
  struct CachedBlock {
    uint64_t index = 0;
    uint64_t last_use = 0;  // 0: empty
    Bytes plain;
  };
  Status Spill();
  Status WriteBlock(ByteSpan plain);             // the next whole block
  Result<const uint8_t*> Block(uint64_t index);  // a block on disk, decrypted

  const std::string dir_;
  const size_t max_memory_;
  const size_t block_size_;
  Status broken_;  // a failed write: the file no longer matches size_
  Bytes memory_;   // everything, until the first spill
  int fd_ = -1;
  AesKey key_{};
  uint64_t blocks_ = 0;  // whole blocks in the file
  Bytes tail_;           // the bytes after them (less than a block)
  Bytes sealed_;         // scratch: one sealed block
  std::vector<CachedBlock> cache_;
  uint64_t uses_ = 0;
  uint64_t size_ = 0;
};

}  // namespace aifs
