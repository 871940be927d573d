// RandomAccessReader: bytes read at any offset, without holding them all in
// memory at once (a span in RAM, an encrypted spill file on disk ...). For
// readers of formats whose parts lie far apart: a ZIP archive's central
// directory at its end, its members before it.
#pragma once

#include <cstring>
#include <string>

#include "aifs/core/bytes.h"
#include "aifs/core/status.h"

namespace aifs {

class RandomAccessReader {
 public:
  virtual ~RandomAccessReader() = default;
  virtual uint64_t size() const = 0;
  // Fills `out` with the bytes at [offset, offset + out.size()). OUT_OF_RANGE
  // READ_PAST_END when that range reaches past size(); otherwise only the
  // source's own errors (I/O, failed authentication), never short data.
  // One reader at a time unless an implementation says otherwise.
  virtual Status ReadAt(uint64_t offset, MutableByteSpan out) = 0;

 protected:
  // The OUT_OF_RANGE READ_PAST_END of ReadAt, or OK when the range fits.
  Status CheckRange(uint64_t offset, size_t n) const {
    const uint64_t total = size();
    if (offset <= total && n <= total - offset) return Status::Ok();
    return err::OutOfRange("READ_PAST_END", "read of " + std::to_string(n) + " bytes at " +
                                                std::to_string(offset) + " past the end (" +
                                                std::to_string(total) + " bytes)");
  }
};

// Over bytes in memory, which must outlive it. Thread-safe.
class SpanReader final : public RandomAccessReader {
 public:
  explicit SpanReader(ByteSpan data) : data_(data) {}
  uint64_t size() const override { return data_.size(); }
  Status ReadAt(uint64_t offset, MutableByteSpan out) override {
    AIFS_RETURN_IF_ERROR(CheckRange(offset, out.size()));
    if (!out.empty()) std::memcpy(out.data(), data_.data() + offset, out.size());
    return Status::Ok();
  }

 private:
  ByteSpan data_;
};

}  // namespace aifs
