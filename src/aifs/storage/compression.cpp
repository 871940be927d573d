#include "aifs/storage/compression.h"

#include <zstd.h>

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

constexpr size_t kSampleSlice = 4096;
constexpr size_t kSampleSlices = 4;

}  // namespace

bool LooksCompressible(ByteSpan in, const CompressionPolicy& policy) {
  if (policy.level <= 0 || in.size() < 64) return false;
  if (in.size() <= 4 * kSampleSlice * kSampleSlices) return true;
  Bytes sample;
  sample.reserve(kSampleSlice * kSampleSlices);
  const size_t stride = (in.size() - kSampleSlice) / (kSampleSlices - 1);
  for (size_t s = 0; s < kSampleSlices; ++s) {
    auto slice = in.subspan(s * stride, kSampleSlice);
    sample.insert(sample.end(), slice.begin(), slice.end());
  }
  Bytes trial;
  const size_t n = CompressInto(sample, policy.level, trial);
  return n != 0 &&
         static_cast<double>(n) <= (1.0 - policy.min_saving) * static_cast<double>(sample.size());
}

bool MaybeCompress(ByteSpan in, const CompressionPolicy& policy, Bytes& out) {
  // A chunk that fails the trial is stored raw without paying for a full
  // compression.
  if (!LooksCompressible(in, policy)) return false;
  const size_t n = CompressInto(in, policy.level, out);
  return n != 0 &&
         static_cast<double>(n) <= (1.0 - policy.min_saving) * static_cast<double>(in.size());
}

Status Decompress(ByteSpan in, size_t expected_size, Bytes& out) {
  out.resize(expected_size);
  size_t n = ZSTD_decompressDCtx(ThreadDCtx(), out.data(), out.size(), in.data(), in.size());
  if (ZSTD_isError(n) || n != expected_size)
    return err::DataLoss("CHUNK_CORRUPT", "compressed chunk does not decompress to its size");
  return Status::Ok();
}

}  // namespace aifs
