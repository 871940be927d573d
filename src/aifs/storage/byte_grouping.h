// Byte grouping ("shuffle"): the bytes of fixed-width values regrouped into
// planes, plane j holding byte j of every value. In a float tensor the sign
// and exponent bytes vary little from one value to the next while the low
// mantissa bytes look random; side by side in one plane the former become
// compressible for zstd, which sees nothing to gain in the interleaved bytes.
//
// Layout for width w and n = size / w whole values: plane j (j < w) is
// in[j], in[w + j], in[2w + j], ... (n bytes), the planes follow one another,
// then the size % w trailing bytes as they are. Data that does not start on a
// value boundary groups just as well: its planes come out rotated.
//
// Pure functions, thread-safe. Chunk sealing uses them per segment
// (chunk_sealer.h, docs/storage-format.md).
#pragma once

#include <cstdint>

#include "aifs/core/bytes.h"

namespace aifs {

// The widths the grouping supports; anything else is no grouping.
inline constexpr bool IsGroupingWidth(uint32_t w) { return w == 2 || w == 4; }

// `out` (resized to in.size()) = `in` grouped with width `width` (2 or 4).
// `in` and `out` must not overlap.
void GroupBytes(ByteSpan in, uint32_t width, Bytes& out);

// The inverse: UngroupBytes(GroupBytes(x, w), w) == x for every x.
void UngroupBytes(ByteSpan in, uint32_t width, Bytes& out);

// A cheap guess at whether grouping pays for `sample`: the width (2 or 4)
// whose planes have a clearly lower order-0 byte entropy, on average, than
// the sample's bytes taken together (at least kGroupingGainBits per byte), or
// 0 when none does (random bytes, text), or when the sample is under 4 KiB.
// One pass over (at most the first 64 KiB of) the sample, no compression: a
// zstd trial confirms it (compression.h, PlanCompression).
inline constexpr double kGroupingGainBits = 0.25;
uint32_t LikelyGroupingWidth(ByteSpan sample);

}  // namespace aifs
