// What the embedding kinds (http-embed, exec with npy output) share: how an
// input becomes the texts to embed, and the checks every answer's vectors
// pass before they leave the kind.
// Thread safety: pure functions, except that DimensionCheck is a value owned
// by one kind.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "aifs/ingest/operator_kind.h"
#include "aifs/ingest/operator_params.h"
#include "aifs/ingest/text_passages.h"

namespace aifs {

// The byte ranges of `in` to embed: the whole input when chunk_bytes is 0,
// else SplitPassages(chunk_bytes, chunk_overlap). The input's own errors
// (INVALID_ARGUMENT): NOT_TEXT (not valid UTF-8), EMPTY_INPUT (nothing but
// whitespace, or no bytes). `need_text` false (exec without chunking) takes
// any bytes, even none, as one range.
Result<std::vector<TextRange>> EmbeddingRanges(const OperatorInput& in, const VectorParams& p,
                                               bool need_text = true);

// For describe(): " chunk=BYTES/OVERLAP" with passages, else "".
std::string DescribePassages(const VectorParams& p);

// The dimension every vector of a space must have: the `dim` parameter, or
// learnt from the first answer. Check fails with FAILED_PRECONDITION
// EMBEDDER_WRONG_DIMENSION (`who` names the embedder in the message).
class DimensionCheck {
 public:
  explicit DimensionCheck(uint32_t dim) : dim_(dim) {}
  uint32_t dim() const { return dim_; }
  Status Check(size_t got, const std::string& who);
  // Check() for a whole answer: commits a learnt dimension only when every
  // vector agrees.
  Status CheckAll(std::span<const std::vector<float>> vectors, const std::string& who);

 private:
  uint32_t dim_;
};

// True when every value is finite.
bool AllFinite(std::span<const float> values);

}  // namespace aifs
