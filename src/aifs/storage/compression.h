// Per-chunk zstd compression that is skipped when it does not pay.
//
// Deciding costs a trial compression of a small sample, so incompressible data
// (random bytes) is stored raw at nearly no cost. Float tensors, which zstd
// alone hardly shrinks, are byte-grouped first when a trial shows that pays
// (byte_grouping.h, PlanCompression).
#pragma once

#include <span>

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

// Compresses byte planes (GroupBytes(..., width) of something) into `out`:
// one zstd frame in which every plane starts a new block, so that each
// plane's bytes are coded with entropy tables of their own (in one block a
// low-entropy exponent plane would share its tables with the random-looking
// mantissa planes and gain little). Decompress reads it like any frame.
// True when that saves at least policy.min_saving (`out` unspecified otherwise).
bool MaybeCompressGrouped(ByteSpan planes, uint32_t width, const CompressionPolicy& policy,
                          Bytes& out);

// How a chunk's segments are compressed: SealPolicy::byte_grouping.
// kNoGrouping; 2 or 4: that width; kGroupingTrial (a blob): the sample says.
inline constexpr uint32_t kNoGrouping = 0;
inline constexpr uint32_t kGroupingTrial = 1;

// What each segment of one chunk tries, decided once per chunk.
struct CompressionPlan {
  bool zstd = false;         // zstd of the segment as it is
  uint32_t group_width = 0;  // 2 or 4: zstd of the segment byte-grouped with that width
};

// Decides on a sample of `chunk` (four 4 KiB slices spread over it, or the
// whole chunk when it is at most 64 KiB):
//  - zstd: the sample saves at least policy.min_saving (LooksCompressible);
//    a chunk of at most 64 KiB is trial-compressed on its first 16 KiB
//    when it is longer than that, else left to its segment's own attempt;
//  - group_width, when `grouping` asks for it: `grouping` itself (2 or 4, a
//    tensor's element size), or for kGroupingTrial the width
//    LikelyGroupingWidth picks from the sample's byte statistics unless plain
//    zstd already halves the sample (text); kept only when zstd of the
//    grouped sample saves at least min_saving and is smaller than zstd of the
//    sample as it is.
// When zstd of the grouped sample is smaller than zstd of the sample by
// kGroupingLead or more, zstd is false: the segments try only the grouped
// encoding. A segment keeps the smallest of the planned encodings that saves
// at least min_saving, else it is stored raw.
inline constexpr double kGroupingLead = 0.05;

CompressionPlan PlanCompression(ByteSpan chunk, const CompressionPolicy& policy, uint32_t grouping);

// Decompresses exactly `expected_size` bytes; anything else is DATA_LOSS.
Status Decompress(ByteSpan in, size_t expected_size, Bytes& out);
// The same into `out`, which it must fill exactly.
Status DecompressTo(ByteSpan in, std::span<uint8_t> out);

// Whether `in` is exactly one zstd frame whose header says it expands to
// `raw_size` bytes (what MaybeCompress writes), read from the header alone.
bool IsFrameOf(ByteSpan in, size_t raw_size);

}  // namespace aifs
