#include "aifs/storage/compression.h"

#include <zstd.h>

#include "aifs/storage/byte_grouping.h"

#include <algorithm>
#include <memory>

namespace aifs {

namespace {

struct CCtxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxDeleter> ctx(ZSTD_createCCtx());
  return ctx.get();
}
ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxDeleter> ctx(ZSTD_createDCtx());
  return ctx.get();
}

size_t CompressInto(ByteSpan in, int level, Bytes& out) {
  out.resize(ZSTD_compressBound(in.size()));
  size_t n = ZSTD_compressCCtx(ThreadCCtx(), out.data(), out.size(), in.data(), in.size(), level);
  if (ZSTD_isError(n)) return 0;
  out.resize(n);
  return n;
}

// One zstd frame of `in` whose blocks end every `block` bytes (zstd's own
// blocks are at most 128 KiB): each block codes its literals with tables of
// its own. 0 when compression fails.
size_t CompressInBlocks(ByteSpan in, int level, size_t block, Bytes& out) {
  ZSTD_CCtx* c = ThreadCCtx();
  ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
  if (ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level)) ||
      ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(c, in.size())))
    return 0;
  // Each extra block costs a 3-byte header.
  out.resize(ZSTD_compressBound(in.size()) + 3 * (in.size() / std::max<size_t>(block, 1) + 1));
  ZSTD_outBuffer dst{out.data(), out.size(), 0};
  size_t pos = 0;
  do {
    const size_t end = std::min(in.size(), pos + block);
    const ZSTD_EndDirective mode = end == in.size() ? ZSTD_e_end : ZSTD_e_flush;
    ZSTD_inBuffer src{in.data() + pos, end - pos, 0};
    size_t left;
    do {
      left = ZSTD_compressStream2(c, &dst, &src, mode);
      if (ZSTD_isError(left) || (left != 0 && dst.pos == dst.size)) return 0;
    } while (left != 0);
    pos = end;
  } while (pos < in.size());
  out.resize(dst.pos);
  return dst.pos;
}

constexpr size_t kSampleSlice = 4096;
constexpr size_t kSampleSlices = 4;
constexpr size_t kSampleBytes = kSampleSlice * kSampleSlices;

// The trial sample of `in`: four slices spread over it, at offsets that are
// multiples of 4 so that the grouped sample groups every slice alike. False
// (and nothing taken) when `in` is small enough to be its own sample.
bool TakeSample(ByteSpan in, Bytes& sample) {
  if (in.size() <= 4 * kSampleBytes) return false;
  sample.clear();
  sample.reserve(kSampleBytes);
  const size_t stride = (in.size() - kSampleSlice) / (kSampleSlices - 1) / 4 * 4;
  for (size_t s = 0; s < kSampleSlices; ++s) {
    auto slice = in.subspan(s * stride, kSampleSlice);
    sample.insert(sample.end(), slice.begin(), slice.end());
  }
  return true;
}

// Whether `compressed` bytes (0: compression failed) for `plain` bytes save
// at least policy.min_saving.
bool Saves(size_t compressed, size_t plain, const CompressionPolicy& policy) {
  return compressed != 0 &&
         static_cast<double>(compressed) <= (1.0 - policy.min_saving) * static_cast<double>(plain);
}

// A chunk of at most four samples' worth (not sampled): one longer than a
// sample is tried on its first sample's worth, so a small incompressible
// file (a JPEG, random bytes) costs 16 KiB of zstd instead of a full
// attempt (~10% of `put -r`'s CPU on such files); a shorter one is its own
// trial, made by its segment.
bool SmallLooksCompressible(ByteSpan chunk, const CompressionPolicy& policy) {
  if (chunk.size() <= kSampleBytes) return true;
  Bytes trial;
  return Saves(CompressInto(chunk.first(kSampleBytes), policy.level, trial), kSampleBytes, policy);
}

}  // namespace

bool LooksCompressible(ByteSpan in, const CompressionPolicy& policy) {
  if (policy.level <= 0 || in.size() < 64) return false;
  Bytes sample, trial;
  if (!TakeSample(in, sample)) return true;
  return Saves(CompressInto(sample, policy.level, trial), sample.size(), policy);
}

CompressionPlan PlanCompression(ByteSpan chunk, const CompressionPolicy& policy,
                                uint32_t grouping) {
  CompressionPlan plan;
  if (policy.level <= 0 || chunk.size() < 64) return plan;
  Bytes sample, trial;
  const bool sampled = TakeSample(chunk, sample);
  const ByteSpan s = sampled ? ByteSpan(sample) : chunk;
  const size_t plain = sampled ? CompressInto(s, policy.level, trial) : 0;
  plan.zstd = sampled ? Saves(plain, s.size(), policy) : SmallLooksCompressible(chunk, policy);
  uint32_t width = grouping;
  if (grouping == kGroupingTrial) {
    // Text and other data that zstd already halves lose its matches when split.
    // A small chunk is judged on a sample's worth of its start, as a large
    // one on its sample (the whole of a 64 KiB chunk cost small puts ~5%).
    const bool halved = sampled && plain != 0 && plain <= s.size() / 2;
    width = halved ? 0 : LikelyGroupingWidth(s.first(std::min(s.size(), kSampleBytes)));
  }
  if (!IsGroupingWidth(width)) return plan;
  if (!sampled) {  // a small chunk: its segment compares both encodings itself
    plan.group_width = width;
    return plan;
  }
  Bytes grouped;
  GroupBytes(s, width, grouped);
  if (!MaybeCompressGrouped(grouped, width, policy, trial) || (plain != 0 && trial.size() >= plain))
    return plan;
  plan.group_width = width;
  // Clearly ahead on the sample (by kGroupingLead): the segments try the
  // grouped encoding only, which halves their compression work.
  if (plain == 0 ||
      static_cast<double>(trial.size()) <= (1.0 - kGroupingLead) * static_cast<double>(plain))
    plan.zstd = false;
  return plan;
}

bool MaybeCompress(ByteSpan in, const CompressionPolicy& policy, Bytes& out) {
  // A chunk that fails the trial is stored raw without paying for a full
  // compression.
  if (!LooksCompressible(in, policy)) return false;
  return Saves(CompressInto(in, policy.level, out), in.size(), policy);
}

bool MaybeCompressGrouped(ByteSpan planes, uint32_t width, const CompressionPolicy& policy,
                          Bytes& out) {
  if (policy.level <= 0 || planes.size() < 64 || !IsGroupingWidth(width)) return false;
  const size_t plane = planes.size() / width;
  return Saves(CompressInBlocks(planes, policy.level, plane, out), planes.size(), policy);
}

Status Decompress(ByteSpan in, size_t expected_size, Bytes& out) {
  out.resize(expected_size);
  return DecompressTo(in, out);
}

Status DecompressTo(ByteSpan in, std::span<uint8_t> out) {
  size_t n = ZSTD_decompressDCtx(ThreadDCtx(), out.data(), out.size(), in.data(), in.size());
  if (ZSTD_isError(n) || n != out.size())
    return err::DataLoss("CHUNK_CORRUPT", "compressed chunk does not decompress to its size");
  return Status::Ok();
}

bool IsFrameOf(ByteSpan in, size_t raw_size) {
  return ZSTD_getFrameContentSize(in.data(), in.size()) == raw_size &&
         ZSTD_findFrameCompressedSize(in.data(), in.size()) == in.size();
}

}  // namespace aifs
