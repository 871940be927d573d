// Streaming validator of tensor assets: the IPC stream parser of tensor.cpp,
// fed as bytes arrive. It holds at most one metadata FlatBuffer (bounded by
// max_buffer_bytes) and never the message bodies, which it only counts.
#include "aifs/kinds/tensor.h"

namespace aifs {

namespace {

class TensorValidator : public KindValidator {
 public:
  explicit TensorValidator(uint64_t max_buffer_bytes) : parser_(max_buffer_bytes) {}
  Status Update(ByteSpan data) override { return parser_.Update(data); }
  Status Finish() override { return parser_.Finish(); }
  uint32_t ValueWidth() const override {
    return parser_.has_schema() ? static_cast<uint32_t>(DTypeSize(parser_.schema().dtype)) : 0;
  }

 private:
  tensor_detail::IpcStreamParser parser_;
};

}  // namespace

std::unique_ptr<KindValidator> NewTensorValidator(uint64_t max_buffer_bytes) {
  return std::make_unique<TensorValidator>(max_buffer_bytes);
}

}  // namespace aifs
