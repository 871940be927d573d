// Batched reads on the wire (Aifs.ReadRanges): the request's conversions, the
// server's packing of the bytes Api::ReadRanges delivers into
// ReadRangesResponse messages, and the client's unpacking with its checks.
//
// A message carries the raw bytes of one or more pieces (a piece: bytes of one
// range, tagged with the range's index and the asset offset of its first
// byte), at most kMaxFrameBytes raw in all, as one DataFrame (zstd when the
// client accepts it and it pays). The last message says `done` and every
// range's length as delivered (clipped to its asset).
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "aifs/api/types.h"
#include "aifs/rpc/frames.h"
#include "aifs/v1/aifs.pb.h"

namespace aifs::rpc {

void ToProto(const std::string& ns, std::span<const RangeRead> ranges, bool accept_zstd,
             v1::ReadRangesRequest* out);
// The ranges of a request; INVALID_ARGUMENT BAD_ASSET_ID naming the range.
Result<std::vector<RangeRead>> FromProto(const v1::ReadRangesRequest& in);

// RangePacker: turns the (index, bytes) calls of a RangeSink into messages.
//
// Promise: the messages handed to `emit`, in order, carry exactly the bytes
// given to Add(), in that order, each piece tagged with its range's index and
// asset offset (a range's first piece starts at its requested offset); no
// message holds more than kMaxFrameBytes raw bytes. Finish() emits the last
// message: what is pending, with `done` and every range's delivered length. A
// failure of `emit` is returned by the Add() or Finish() that caused it.
// Add() expects what Api::ReadRanges promises its sink (indexes never go
// back); anything else is INTERNAL. Not thread-safe: one per call; the message
// given to `emit` is reused after it returns.
class RangePacker {
 public:
  using Emit = std::function<Status(const v1::ReadRangesResponse&)>;
  RangePacker(std::span<const RangeRead> ranges, bool zstd, Emit emit);

  Status Add(size_t index, ByteSpan data);
  Status Finish();

  uint64_t raw_bytes() const { return raw_bytes_; }
  uint64_t wire_bytes() const { return encoder_.wire_bytes(); }

 private:
  Status Flush();

  std::span<const RangeRead> ranges_;
  FrameEncoder encoder_;
  Emit emit_;
  v1::ReadRangesResponse msg_;
  std::vector<uint64_t> delivered_;
  size_t current_ = 0;        // index of the range Add() last saw
  uint64_t next_offset_ = 0;  // asset offset of that range's next byte
  bool started_ = false;
  uint64_t raw_bytes_ = 0;
};

// RangeUnpacker: the client's side. Take() each message as it arrives, then
// Finish() once the call ended OK.
//
// Promise: `sink` gets each range's bytes in request order and each range's
// in offset order, only after the message that carried them decoded and
// checked: a piece for an unknown or earlier range, one that does not start
// where its range's bytes left off, more bytes than a range asked for, pieces
// that do not add up to the frame, or anything after `done` is DATA_LOSS
// READ_STREAM_GAP; an undecodable frame DATA_LOSS BAD_FRAME. Finish() is
// DATA_LOSS READ_STREAM_INCOMPLETE unless `done` came and every range got
// exactly the length the server reported. A non-OK sink return is returned
// as it is. Not thread-safe: one per call.
class RangeUnpacker {
 public:
  RangeUnpacker(std::span<const RangeRead> ranges, const RangeSink& sink);

  Status Take(const v1::ReadRangesResponse& msg);
  Status Finish() const;

 private:
  Status CheckPiece(const v1::RangePiece& piece);

  std::span<const RangeRead> ranges_;
  const RangeSink& sink_;
  std::vector<uint64_t> received_;
  size_t current_ = 0;
  bool started_ = false;
  bool done_ = false;
  Bytes scratch_;
};

}  // namespace aifs::rpc
