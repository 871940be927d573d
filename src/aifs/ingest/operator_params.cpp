#include "aifs/ingest/operator_params.h"

#include <charconv>

#include "aifs/ingest/text_passages.h"
#include "aifs/kinds/embed.h"

namespace aifs {

OperatorParams::OperatorParams(std::string kind, const std::map<std::string, std::string>& params)
    : kind_(std::move(kind)), params_(params) {}

std::optional<std::string> OperatorParams::Get(const std::string& name) {
  read_.insert(name);
  auto it = params_.find(name);
  if (it == params_.end()) return std::nullopt;
  return it->second;
}

std::string OperatorParams::String(const std::string& name, std::string_view fallback) {
  auto v = Get(name);
  return v ? *v : std::string(fallback);
}

Result<std::string> OperatorParams::Required(const std::string& name) {
  auto v = Get(name);
  if (!v || v->empty()) return Bad(name, "is required");
  return *v;
}

Result<uint64_t> OperatorParams::Uint(const std::string& name, uint64_t fallback, uint64_t min,
                                      uint64_t max) {
  auto v = Get(name);
  if (!v) return fallback;
  uint64_t n = 0;
  const char* end = v->data() + v->size();
  auto [ptr, ec] = std::from_chars(v->data(), end, n);
  if (v->empty() || ec != std::errc() || ptr != end)
    return Bad(name, "must be a whole number, not \"" + err::Echo(*v) + "\"");
  if (n < min || n > max)
    return Bad(name, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                         ", not " + std::to_string(n));
  return n;
}

Result<std::string> OperatorParams::Choice(const std::string& name, std::string_view fallback,
                                           std::initializer_list<std::string_view> choices) {
  std::string v = String(name, fallback);
  std::string names;
  for (std::string_view c : choices) {
    if (v == c) return v;
    names += (names.empty() ? "" : ", ") + std::string(c);
  }
  return Bad(name, "must be one of " + names + ", not \"" + err::Echo(v) + "\"");
}

Status OperatorParams::Bad(const std::string& name, const std::string& what) const {
  return err::InvalidArgument("BAD_OPERATOR_PARAM",
                              kind_ + " operator parameter `" + err::Echo(name) + "` " + what);
}

Status OperatorParams::CheckAllRead() const {
  for (const auto& [name, value] : params_) {
    if (read_.count(name)) continue;
    std::string known;
    for (const std::string& r : read_) known += (known.empty() ? "" : ", ") + r;
    return Bad(name, "is not a parameter of this kind (it takes: " + known + ")");
  }
  return Status::Ok();
}

Result<CommonParams> ReadCommonParams(OperatorParams& p, uint64_t default_max_input) {
  CommonParams c;
  c.version = p.String("version", "1");
  if (c.version.empty() || c.version.size() > 64)
    return p.Bad("version", "must be 1 to 64 characters");
  for (char ch : c.version)
    if (ch <= ' ' || ch > '~') return p.Bad("version", "must be printable ASCII without spaces");
  AIFS_ASSIGN_OR_RETURN(c.max_input_bytes,
                        p.Uint("max_input_bytes", default_max_input, 1, uint64_t{1} << 40));
  return c;
}

Result<VectorParams> ReadVectorParams(OperatorParams& p, const std::string& model) {
  VectorParams v;
  v.space.name = p.String("space", model);
  if (v.space.name.empty() || v.space.name.size() > 128)
    return p.Bad("space", "must be 1 to 128 characters");
  AIFS_ASSIGN_OR_RETURN(uint64_t dim, p.Uint("dim", 0, 0, kEmbedMaxDim));
  v.space.dim = static_cast<uint32_t>(dim);
  auto metric = ParseMetric(p.String("metric", "cosine"));
  if (!metric.ok()) return p.Bad("metric", metric.status().message());
  v.space.metric = *metric;
  AIFS_ASSIGN_OR_RETURN(v.chunk_bytes, p.Uint("chunk_bytes", 0, 0, kMaxPassageBytes));
  if (v.chunk_bytes != 0 && v.chunk_bytes < kMinPassageBytes)
    return p.Bad("chunk_bytes",
                 "must be 0 (whole inputs) or at least " + std::to_string(kMinPassageBytes));
  const uint64_t max_overlap = v.chunk_bytes == 0 ? 0 : (v.chunk_bytes - 1) / 2;
  auto overlap = p.Uint("chunk_overlap", 0, 0, max_overlap);
  if (!overlap.ok())
    return p.Bad("chunk_overlap", v.chunk_bytes == 0 ? "needs chunk_bytes"
                                                     : "must be below chunk_bytes / 2 (at most " +
                                                           std::to_string(max_overlap) + ")");
  v.chunk_overlap = *overlap;
  return v;
}

}  // namespace aifs
