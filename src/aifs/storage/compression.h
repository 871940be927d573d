// Per-chunk zstd compression that is skipped when it does not pay.
//
// Deciding costs a trial compression of a small sample, so incompressible data
// (random bytes, most float tensors) is stored raw at nearly no cost.
#pragma once

#include "aifs/core/bytes.h"
#include "aifs/core/status.h"

namespace aifs {

struct CompressionPolicy {
  int level = 1;          // zstd level; 0 disables compression
  double min_saving = 0.10;  // compress only if it saves at least this fraction
};

// Compresses `in` into `out` and returns true when that saves at least
// `policy.min_saving`; returns false (and leaves `out` unspecified) otherwise.
bool MaybeCompress(ByteSpan in, const CompressionPolicy& policy, Bytes& out);

// Whether `in` is worth compressing at all: a trial on a few small slices
// spread over it (true for inputs too small to sample). Cheap next to
// compressing, so incompressible chunks skip their segments' compression.
bool LooksCompressible(ByteSpan in, const CompressionPolicy& policy);

// Decompresses exactly `expected_size` bytes; anything else is DATA_LOSS.
Status Decompress(ByteSpan in, size_t expected_size, Bytes& out);

}  // namespace aifs
