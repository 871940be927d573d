#include "aifs/ingest/embedding_input.h"

#include <cmath>

#include "aifs/core/utf8.h"
#include "aifs/kinds/embed.h"

namespace aifs {

Result<std::vector<TextRange>> EmbeddingRanges(const OperatorInput& in, const VectorParams& p,
                                               bool need_text) {
  const std::string_view text = AsChars(in.bytes);
  if (!need_text && p.chunk_bytes == 0) return std::vector<TextRange>{{0, text.size()}};
  if (!ValidUtf8(text))
    return err::InvalidArgument(
        "NOT_TEXT", "asset " + in.id.ToHex() + " is not UTF-8 text: only text can be embedded");
  if (text.find_first_not_of(" \t\n\r\f\v") == std::string_view::npos)
    return err::InvalidArgument("EMPTY_INPUT", "asset " + in.id.ToHex() + " holds no text (" +
                                                   std::to_string(text.size()) +
                                                   " bytes of whitespace)");
  if (p.chunk_bytes == 0) return std::vector<TextRange>{{0, text.size()}};
  return SplitPassages(text, p.chunk_bytes, p.chunk_overlap);
}

std::string DescribePassages(const VectorParams& p) {
  if (p.chunk_bytes == 0) return "";
  return " chunk=" + std::to_string(p.chunk_bytes) + "/" + std::to_string(p.chunk_overlap);
}

Status DimensionCheck::Check(size_t got, const std::string& who) {
  if (got == 0 || got > kEmbedMaxDim || (dim_ != 0 && got != dim_))
    return err::FailedPrecondition(
        "EMBEDDER_WRONG_DIMENSION",
        who + " answered a vector of " + std::to_string(got) + " values, expected " +
            (dim_ != 0 ? std::to_string(dim_) : "1 to " + std::to_string(kEmbedMaxDim)));
  dim_ = static_cast<uint32_t>(got);
  return Status::Ok();
}

Status DimensionCheck::CheckAll(std::span<const std::vector<float>> vectors,
                                const std::string& who) {
  DimensionCheck trial = *this;
  for (const auto& v : vectors) AIFS_RETURN_IF_ERROR(trial.Check(v.size(), who));
  *this = trial;
  return Status::Ok();
}

bool AllFinite(std::span<const float> values) {
  for (float v : values)
    if (!std::isfinite(v)) return false;
  return true;
}

}  // namespace aifs
