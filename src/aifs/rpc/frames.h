// Bulk data on the wire: DataFrames of at most kMaxFrameBytes raw bytes,
// zstd-compressed when the peer accepts it and it pays.
#pragma once

#include <functional>
#include <string>

#include "aifs/core/bytes.h"
#include "aifs/core/status.h"
#include "aifs/v1/aifs.pb.h"

namespace aifs::rpc {

inline constexpr size_t kMaxFrameBytes = 1 << 20;

// Fills DataFrames from raw slices of at most kMaxFrameBytes. With zstd on,
// each frame is compressed only if that saves enough; after a frame that did
// not compress, the next few are sent raw without trying, so incompressible
// streams cost almost nothing.
class FrameEncoder {
 public:
  explicit FrameEncoder(bool zstd) : zstd_(zstd) {}
  // `frame` gets the encoding of `raw` (at most kMaxFrameBytes).
  void Encode(ByteSpan raw, v1::DataFrame* frame);
  // The same for raw bytes already in frame->data() (saves a copy when the
  // caller gathers them there).
  void EncodeInPlace(v1::DataFrame* frame);
  uint64_t wire_bytes() const { return wire_bytes_; }

 private:
  // Whether `raw` went into scratch_ compressed.
  bool Compress(ByteSpan raw);
  // `raw` into `frame`; raw bytes are copied only when `copy_raw`.
  void Fill(ByteSpan raw, v1::DataFrame* frame, bool copy_raw);

  bool zstd_;
  int skip_ = 0;
  Bytes scratch_;
  uint64_t wire_bytes_ = 0;
};

// Packs one read stream's bytes into DataFrames of at most kMaxFrameBytes
// raw bytes each: plaintext is gathered and encoded by a FrameEncoder; whole
// zstd frames (segments as stored) are concatenated as they are when the
// peer accepts zstd and they fit a frame, else decompressed and gathered.
// `frame` (the caller's, inside its response message) is filled and `send`
// called with its raw size for every full frame and at Flush(). One buffer
// serves the whole stream. Not thread-safe.
class FramePacker {
 public:
  FramePacker(bool zstd, v1::DataFrame* frame, std::function<Status(uint64_t raw)> send);
  Status Add(ByteSpan plain);
  // `frames` expand to exactly `raw_size` bytes (else DATA_LOSS CHUNK_CORRUPT
  // when this packer has to decompress them).
  Status AddCompressed(ByteSpan frames, uint64_t raw_size);
  // Sends what is gathered, if anything.
  Status Flush();

 private:
  FrameEncoder encoder_;
  bool zstd_;
  v1::DataFrame* frame_;
  std::function<Status(uint64_t)> send_;
  uint64_t zstd_raw_ = 0;  // raw bytes of the zstd frames gathered, 0: gathering plaintext
  Bytes scratch_;
};

// The raw bytes of `frame`, checked: a frame larger than kMaxFrameBytes, a
// zstd frame that does not expand to exactly raw_size, or an unknown encoding
// is INVALID_ARGUMENT BAD_FRAME. `scratch` holds decompressed bytes.
Result<ByteSpan> DecodeFrame(const v1::DataFrame& frame, Bytes& scratch);

}  // namespace aifs::rpc
