// Content-defined chunking (FastCDC-style gear hash with normalized chunking).
//
// Cut points depend only on nearby content, so inserting or deleting bytes in a
// large file changes only the chunks around the edit and the rest deduplicate.
// The gear table and the cut rule are part of the storage format: changing
// them would not corrupt anything, but would stop new writes deduplicating
// against old ones.
#pragma once

#include <cstdint>

#include "aifs/core/bytes.h"
#include "aifs/core/status.h"

namespace aifs {

struct ChunkerParams {
  uint32_t min_size = 256 * 1024;
  uint32_t avg_size = 1024 * 1024;  // rounded down to a power of two
  uint32_t max_size = 4 * 1024 * 1024;

  // min < avg < max, avg >= 256, max <= 64 MiB.
  Status Validate() const;
};

class Chunker {
 public:
  explicit Chunker(const ChunkerParams& params);

  // Length of the chunk that starts at data[0]. Never more than max_size nor
  // data.size(); returns data.size() when no cut point exists before its end.
  // Callers pass at least max_size bytes unless the stream has ended, so that
  // the answer does not depend on how the stream was split into writes.
  size_t NextCut(ByteSpan data) const;

  const ChunkerParams& params() const { return params_; }

 private:
  ChunkerParams params_;
  uint64_t mask_small_;  // stricter mask before avg: fewer short chunks
  uint64_t mask_large_;  // looser mask after avg: fewer chunks hit max
};

}  // namespace aifs
