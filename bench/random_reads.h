// Random-read workloads over one asset through aifs::Api (in-process or
// remote alike), timed with TimedRate: single ranges with ReadAsset, and
// batches of ranges with ReadRanges. Offsets are uniform and aligned to the
// read size; every read is checked against the source bytes at its first and
// last 64 bytes (enough to catch misplaced data, cheap enough not to count).
#pragma once

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "aifs/api/api.h"
#include "bench_util.h"
#include "timed_rates.h"

namespace aifs::bench {

// The bytes a read of [off, off+n) must start and end with.
inline void CheckEnds(const uint8_t* got, const std::vector<uint8_t>& source, uint64_t off,
                      size_t n, const char* what) {
  const size_t k = std::min<size_t>(64, n);
  if (std::memcmp(got, source.data() + off, k) != 0 ||
      std::memcmp(got + n - k, source.data() + off + n - k, k) != 0)
    Fail(Fmt("%s: wrong bytes at offset %llu", what, static_cast<unsigned long long>(off)));
}

// One op = ReadAsset of `block` bytes into a per-thread buffer.
inline RateStats RandomReads(aifs::Api& api, const aifs::AssetId& id,
                             const std::vector<uint8_t>& source, size_t block, int threads,
                             double seconds, const std::function<void()>& between_rounds = {}) {
  const uint32_t blocks = static_cast<uint32_t>(source.size() / block);
  std::vector<std::vector<uint8_t>> bufs(static_cast<size_t>(threads), std::vector<uint8_t>(block));
  return TimedRate(
      threads, seconds,
      [&, blocks](Rng& rng, int t) {
        const uint64_t off = uint64_t{rng.Below(blocks)} * block;
        uint8_t* buf = bufs[static_cast<size_t>(t)].data();
        size_t got = 0;
        Check(api.ReadAsset("default", id, aifs::ReadRange{off, block},
                            [&](aifs::ByteSpan piece) {
                              if (got + piece.size() > block)
                                return aifs::err::Internal("TOO_MUCH", "more than asked");
                              std::memcpy(buf + got, piece.data(), piece.size());
                              got += piece.size();
                              return aifs::Status::Ok();
                            }),
              "ReadAsset");
        if (got != block) Fail(Fmt("ReadAsset of %zu bytes returned %zu", block, got));
        CheckEnds(buf, source, off, block, "ReadAsset");
      },
      between_rounds);
}

// One op = ReadRanges of `batch` ranges of `block` bytes; ops count calls
// (ranges per second = ops_per_s * batch).
inline RateStats BatchedReads(aifs::Api& api, const aifs::AssetId& id,
                              const std::vector<uint8_t>& source, size_t block, size_t batch,
                              int threads, double seconds) {
  const uint32_t blocks = static_cast<uint32_t>(source.size() / block);
  struct Scratch {
    std::vector<aifs::RangeRead> ranges;
    std::vector<uint8_t> out;
    std::vector<size_t> got;
  };
  std::vector<Scratch> scratch(static_cast<size_t>(threads));
  for (Scratch& s : scratch) {
    s.ranges.resize(batch, aifs::RangeRead{id, 0, block});
    s.out.resize(batch * block);
    s.got.resize(batch);
  }
  return TimedRate(threads, seconds, [&, blocks](Rng& rng, int t) {
    Scratch& s = scratch[static_cast<size_t>(t)];
    for (aifs::RangeRead& r : s.ranges) r.offset = uint64_t{rng.Below(blocks)} * block;
    std::fill(s.got.begin(), s.got.end(), 0);
    Check(api.ReadRanges("default", s.ranges,
                         [&](size_t i, aifs::ByteSpan piece) {
                           if (s.got[i] + piece.size() > block)
                             return aifs::err::Internal("TOO_MUCH", "more than asked");
                           std::memcpy(s.out.data() + i * block + s.got[i], piece.data(),
                                       piece.size());
                           s.got[i] += piece.size();
                           return aifs::Status::Ok();
                         }),
          "ReadRanges");
    for (size_t i = 0; i < batch; ++i) {
      if (s.got[i] != block) Fail(Fmt("ReadRanges: range %zu got %zu bytes", i, s.got[i]));
      CheckEnds(s.out.data() + i * block, source, s.ranges[i].offset, block, "ReadRanges");
    }
  });
}

}  // namespace aifs::bench
