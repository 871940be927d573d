#include "aifs/rpc/range_frames.h"

#include "aifs/rpc/convert.h"

namespace aifs::rpc {

namespace {

// Pieces per message at most: keeps the per-piece overhead of a message of
// tiny ranges bounded (8192 x ~12 bytes of tags).
constexpr int kMaxPiecesPerMessage = 8192;

std::string RangeName(size_t index) { return "range " + std::to_string(index); }

Status Gap(const std::string& why) { return err::DataLoss("READ_STREAM_GAP", why); }

}  // namespace

void ToProto(const std::string& ns, std::span<const RangeRead> ranges, bool accept_zstd,
             v1::ReadRangesRequest* out) {
  out->set_ns(ns);
  out->set_accept_zstd(accept_zstd);
  out->mutable_ranges()->Reserve(static_cast<int>(ranges.size()));
  for (const RangeRead& r : ranges) {
    v1::ByteRange* b = out->add_ranges();
    b->set_id(Raw(r.id.bytes()));
    b->set_offset(r.offset);
    b->set_length(r.length);
  }
}

Result<std::vector<RangeRead>> FromProto(const v1::ReadRangesRequest& in) {
  std::vector<RangeRead> out;
  out.reserve(static_cast<size_t>(in.ranges_size()));
  for (const v1::ByteRange& b : in.ranges()) {
    auto id = ParseAssetId(b.id());
    if (!id.ok())
      return Status(id.status().code(), id.status().reason(),
                    RangeName(out.size()) + ": " + id.status().message());
    out.push_back(RangeRead{*id, b.offset(), b.length()});
  }
  return out;
}

// ---------------------------------------------------------------------------

RangePacker::RangePacker(std::span<const RangeRead> ranges, bool zstd, Emit emit)
    : ranges_(ranges), encoder_(zstd), emit_(std::move(emit)), delivered_(ranges.size(), 0) {}

Status RangePacker::Add(size_t index, ByteSpan data) {
  if (index >= ranges_.size() || (started_ && index < current_))
    return err::Internal("RANGE_SINK_ORDER", "the reader delivered " + RangeName(index) +
                                                 " after range " + std::to_string(current_));
  if (!started_ || index != current_) {
    started_ = true;
    current_ = index;
    next_offset_ = ranges_[index].offset;
  }
  std::string* buffer = msg_.mutable_data()->mutable_data();
  // One buffer for every message of the call (Clear() keeps it).
  if (buffer->capacity() < kMaxFrameBytes) buffer->reserve(kMaxFrameBytes);
  while (!data.empty()) {
    const size_t room = kMaxFrameBytes - buffer->size();
    const size_t n = std::min(room, data.size());
    v1::RangePiece* piece = msg_.add_pieces();
    piece->set_index(static_cast<uint32_t>(index));
    piece->set_offset(next_offset_);
    piece->set_length(static_cast<uint32_t>(n));
    buffer->append(reinterpret_cast<const char*>(data.data()), n);
    next_offset_ += n;
    delivered_[index] += n;
    raw_bytes_ += n;
    data = data.subspan(n);
    if (buffer->size() == kMaxFrameBytes || msg_.pieces_size() >= kMaxPiecesPerMessage) {
      AIFS_RETURN_IF_ERROR(Flush());
      buffer = msg_.mutable_data()->mutable_data();
    }
  }
  return Status::Ok();
}

Status RangePacker::Flush() {
  encoder_.EncodeInPlace(msg_.mutable_data());
  Status st = emit_(msg_);
  // Clear() keeps the buffers' capacity for the next message.
  msg_.Clear();
  return st;
}

Status RangePacker::Finish() {
  // The last pieces travel with `done`: a small read is one message.
  msg_.set_done(true);
  msg_.mutable_lengths()->Add(delivered_.begin(), delivered_.end());
  return Flush();
}

// ---------------------------------------------------------------------------

RangeUnpacker::RangeUnpacker(std::span<const RangeRead> ranges, const RangeSink& sink)
    : ranges_(ranges), sink_(sink), received_(ranges.size(), 0) {}

Status RangeUnpacker::CheckPiece(const v1::RangePiece& piece) {
  const size_t index = piece.index();
  if (index >= ranges_.size())
    return Gap("the server sent a piece of " + RangeName(index) + " of a batch of " +
               std::to_string(ranges_.size()));
  if (started_ && index < current_)
    return Gap("the server went back from range " + std::to_string(current_) + " to " +
               std::to_string(index));
  started_ = true;
  current_ = index;
  const RangeRead& r = ranges_[index];
  const uint64_t expected = r.offset + received_[index];
  if (piece.offset() != expected)
    return Gap(RangeName(index) + " jumped from offset " + std::to_string(expected) + " to " +
               std::to_string(piece.offset()));
  if (piece.length() > r.length - received_[index])
    return Gap(RangeName(index) + " got more than the " + std::to_string(r.length) +
               " bytes it asked for");
  received_[index] += piece.length();
  return Status::Ok();
}

Status RangeUnpacker::Take(const v1::ReadRangesResponse& msg) {
  if (done_) return Gap("the server sent more after its last message");
  auto decoded = DecodeFrame(msg.data(), scratch_);
  if (!decoded.ok()) return err::DataLoss("BAD_FRAME", decoded.status().message());
  ByteSpan raw = *decoded;
  // Every piece is checked before the sink sees a byte of this message.
  uint64_t total = 0;
  for (const v1::RangePiece& piece : msg.pieces()) {
    AIFS_RETURN_IF_ERROR(CheckPiece(piece));
    total += piece.length();
  }
  if (total != raw.size())
    return Gap("the pieces of a message add up to " + std::to_string(total) +
               " bytes, its frame holds " + std::to_string(raw.size()));
  for (const v1::RangePiece& piece : msg.pieces()) {
    if (piece.length() == 0) continue;  // a range with no bytes gets no call
    AIFS_RETURN_IF_ERROR(sink_(piece.index(), raw.first(piece.length())));
    raw = raw.subspan(piece.length());
  }
  if (!msg.done()) return Status::Ok();
  done_ = true;
  auto incomplete = [](const std::string& why) {
    return err::DataLoss("READ_STREAM_INCOMPLETE", why);
  };
  if (static_cast<size_t>(msg.lengths_size()) != ranges_.size())
    return incomplete("the server reported " + std::to_string(msg.lengths_size()) +
                      " range lengths for " + std::to_string(ranges_.size()) + " ranges");
  for (size_t i = 0; i < ranges_.size(); ++i)
    if (msg.lengths(static_cast<int>(i)) != received_[i])
      return incomplete(RangeName(i) + ": received " + std::to_string(received_[i]) +
                        " bytes, the server sent " +
                        std::to_string(msg.lengths(static_cast<int>(i))));
  return Status::Ok();
}

Status RangeUnpacker::Finish() const {
  if (!done_)
    return err::DataLoss("READ_STREAM_INCOMPLETE", "the read stream ended before its last message");
  return Status::Ok();
}

}  // namespace aifs::rpc
