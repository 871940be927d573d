// The "sniff" operator kind: what an input's first 4096 bytes say it is,
// from magic numbers (the WHATWG MIME Sniffing standard's signatures and
// the formats' own specifications), as metadata:
//   sniff.content_type  one of
//     application/pdf  image/png  image/jpeg  image/gif  image/webp
//     application/zip  application/gzip  application/zstd
//     application/x-npy                      NumPy .npy ("\x93NUMPY")
//     application/vnd.apache.arrow.file      Arrow IPC file ("ARROW1")
//     application/vnd.apache.arrow.stream    Arrow IPC stream (0xFFFFFFFF, then
//                                            a positive metadata length, a
//                                            multiple of 8)
//     application/x-safetensors              8-byte little-endian header
//                                            length, then '{'
//     application/json                       first non-space byte '{' or '[',
//                                            and the bytes are text
//     text/plain; charset=utf-8              valid UTF-8 (an incomplete
//                                            character cut by the prefix
//                                            allowed) with no binary control
//                                            bytes (WHATWG's binary data bytes)
//     application/x-empty                    no bytes at all
//     application/octet-stream               anything else
//   sniff.text          "true" for text/plain and JSON, else "false"
// No input errors: every input gets an answer.
//
// Thread safety: one thread at a time (OperatorKind); SniffContentType is
// pure.
#pragma once

#include <memory>
#include <string>

#include "aifs/core/bytes.h"
#include "aifs/ingest/operator_kind.h"
#include "aifs/ingest/operator_params.h"

namespace aifs {

inline constexpr uint64_t kSniffPrefixBytes = 4096;

// The content type of an input whose first bytes are `prefix`; `truncated`
// when the input goes on after them.
std::string SniffContentType(ByteSpan prefix, bool truncated);

// Reads version (max_input_bytes is taken and ignored: sniffing reads only
// the prefix).
Result<std::unique_ptr<OperatorKind>> MakeContentSniff(OperatorParams& p);

class ContentSniff : public OperatorKind {
 public:
  explicit ContentSniff(CommonParams common) : common_(std::move(common)) {}

  Result<std::vector<Result<OperatorOutput>>> Run(std::span<const OperatorInput> inputs) override;
  size_t batch_size() const override { return 64; }
  uint64_t max_input_bytes() const override { return UINT64_MAX; }
  uint64_t prefix_bytes() const override { return kSniffPrefixBytes; }
  std::string describe() const override { return "sniff/1 v=" + common_.version; }

 private:
  CommonParams common_;
};

}  // namespace aifs
