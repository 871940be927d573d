#include "aifs/rpc/frames.h"

#include "aifs/storage/compression.h"

namespace aifs::rpc {

bool FrameEncoder::Compress(ByteSpan raw) {
  constexpr int kSkipAfterMiss = 16;
  if (!zstd_) return false;
  if (skip_ > 0) {
    --skip_;
    return false;
  }
  if (MaybeCompress(raw, CompressionPolicy{.level = 1, .min_saving = 0.05}, scratch_)) return true;
  skip_ = kSkipAfterMiss;
  return false;
}

void FrameEncoder::Encode(ByteSpan raw, v1::DataFrame* frame) { Fill(raw, frame, true); }

void FrameEncoder::EncodeInPlace(v1::DataFrame* frame) {
  Fill(AsBytes(frame->data()), frame, false);
}

void FrameEncoder::Fill(ByteSpan raw, v1::DataFrame* frame, bool copy_raw) {
  frame->set_raw_size(static_cast<uint32_t>(raw.size()));
  if (Compress(raw)) {
    frame->set_encoding(v1::DataFrame::ZSTD);
    frame->set_data(scratch_.data(), scratch_.size());
  } else {
    frame->set_encoding(v1::DataFrame::IDENTITY);
    if (copy_raw) frame->set_data(raw.data(), raw.size());
  }
  wire_bytes_ += frame->data().size();
}

FramePacker::FramePacker(bool zstd, v1::DataFrame* frame, std::function<Status(uint64_t)> send)
    : encoder_(zstd), zstd_(zstd), frame_(frame), send_(std::move(send)) {
  frame_->mutable_data()->reserve(kMaxFrameBytes);
}

Status FramePacker::Add(ByteSpan plain) {
  if (zstd_raw_ > 0) AIFS_RETURN_IF_ERROR(Flush());
  std::string* gathered = frame_->mutable_data();
  while (!plain.empty()) {
    const size_t n = std::min(plain.size(), kMaxFrameBytes - gathered->size());
    gathered->append(reinterpret_cast<const char*>(plain.data()), n);
    plain = plain.subspan(n);
    if (gathered->size() == kMaxFrameBytes) AIFS_RETURN_IF_ERROR(Flush());
  }
  return Status::Ok();
}

Status FramePacker::AddCompressed(ByteSpan frames, uint64_t raw_size) {
  if (!zstd_ || raw_size > kMaxFrameBytes) {
    AIFS_RETURN_IF_ERROR(Decompress(frames, raw_size, scratch_));
    return Add(scratch_);
  }
  const bool plain_gathered = zstd_raw_ == 0 && !frame_->data().empty();
  if (plain_gathered || zstd_raw_ + raw_size > kMaxFrameBytes) AIFS_RETURN_IF_ERROR(Flush());
  frame_->mutable_data()->append(reinterpret_cast<const char*>(frames.data()), frames.size());
  zstd_raw_ += raw_size;
  return Status::Ok();
}

Status FramePacker::Flush() {
  uint64_t raw = zstd_raw_;
  if (raw > 0) {
    frame_->set_encoding(v1::DataFrame::ZSTD);
    frame_->set_raw_size(static_cast<uint32_t>(raw));
  } else {
    raw = frame_->data().size();
    if (raw == 0) return Status::Ok();
    encoder_.EncodeInPlace(frame_);
  }
  Status st = send_(raw);
  frame_->mutable_data()->clear();
  zstd_raw_ = 0;
  return st;
}

Result<ByteSpan> DecodeFrame(const v1::DataFrame& frame, Bytes& scratch) {
  auto bad = [](const std::string& why) { return err::InvalidArgument("BAD_FRAME", why); };
  if (frame.raw_size() > kMaxFrameBytes)
    return bad("data frame of " + std::to_string(frame.raw_size()) + " bytes exceeds the " +
               std::to_string(kMaxFrameBytes) + "-byte limit");
  switch (frame.encoding()) {
    case v1::DataFrame::IDENTITY:
      if (frame.data().size() != frame.raw_size())
        return bad("frame holds " + std::to_string(frame.data().size()) +
                   " bytes, raw_size says " + std::to_string(frame.raw_size()));
      return AsBytes(frame.data());
    case v1::DataFrame::ZSTD: {
      Status st = Decompress(AsBytes(frame.data()), frame.raw_size(), scratch);
      if (!st.ok()) return bad("zstd frame: " + st.message());
      return ByteSpan(scratch.data(), frame.raw_size());
    }
    default:
      return bad("unknown frame encoding " + std::to_string(frame.encoding()));
  }
}

}  // namespace aifs::rpc
