#include "vector_commands.h"

#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>

#include "aifs/core/file_util.h"
#include "aifs/kinds/npy.h"

namespace aifs::cli {

Result<std::vector<float>> LoadVectorNpy(const std::string& path) {
  AIFS_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  AIFS_ASSIGN_OR_RETURN(DecodedTensor t, ParseNpy(AsBytes(bytes)));
  size_t n = static_cast<size_t>(t.rows);
  for (int64_t d : t.shape) n *= static_cast<size_t>(d);
  if (t.rows > 1 && !t.shape.empty())
    return err::InvalidArgument("BAD_VECTOR", path + " holds " + std::to_string(t.rows) +
                                                  " vectors; give one, shape (dim,) or (1, dim)");
  std::vector<float> v(n);
  if (t.dtype == DType::kFloat32 && t.data.size() == n * 4) {
    std::memcpy(v.data(), t.data.data(), n * 4);
  } else if (t.dtype == DType::kFloat64 && t.data.size() == n * 8) {
    for (size_t i = 0; i < n; ++i) {
      double d;
      std::memcpy(&d, t.data.data() + i * 8, 8);
      v[i] = static_cast<float>(d);
    }
  } else {
    return err::InvalidArgument("BAD_VECTOR", path + " must hold float32 or float64 values");
  }
  return v;
}

Result<std::vector<Embedding>> ParseEmbeddings(const std::vector<std::string>& items) {
  std::vector<Embedding> out;
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      return err::InvalidArgument("BAD_EMBEDDING", "--embed takes SPACE=FILE.npy, got '" + item + "'");
    AIFS_ASSIGN_OR_RETURN(auto values, LoadVectorNpy(item.substr(eq + 1)));
    out.push_back({item.substr(0, eq), std::move(values)});
  }
  return out;
}

namespace {
// What a new space took over from the Embed assets already stored.
std::string AdoptedNote(const EmbeddingSpace& s) {
  if (s.vectors == 0 && s.pending == 0) return "";
  std::string note = "; Embed assets already stored: " + std::to_string(s.vectors) + " indexed";
  if (s.pending) note += ", " + std::to_string(s.pending) + " held in quarantine";
  return note;
}
}  // namespace

Status SpaceCreate(Api& api, const Output& out, const std::string& ns, const std::string& name,
                   uint32_t dim, const std::string& metric) {
  AIFS_ASSIGN_OR_RETURN(VectorMetric m, ParseMetric(metric));
  AIFS_ASSIGN_OR_RETURN(EmbeddingSpace s, api.CreateSpace(NsOrDefault(ns), {name, dim, m, 0}));
  if (out.json)
    std::cout << nlohmann::json{{"space", s.name},
                                {"dim", s.dim},
                                {"metric", std::string(MetricName(s.metric))},
                                {"vectors", s.vectors},
                                {"pending", s.pending}}
                     .dump(2)
              << "\n";
  else if (!out.quiet)
    std::cout << "created space " << s.name << " (" << s.dim << "-d, " << MetricName(s.metric)
              << ")" << AdoptedNote(s) << "\n";
  return Status::Ok();
}

Status SpaceList(Api& api, const Output& out, const std::string& ns) {
  AIFS_ASSIGN_OR_RETURN(auto spaces, api.ListSpaces(NsOrDefault(ns)));
  nlohmann::json j = nlohmann::json::array();
  for (const EmbeddingSpace& s : spaces) {
    if (out.json)
      j.push_back({{"space", s.name},
                   {"dim", s.dim},
                   {"metric", std::string(MetricName(s.metric))},
                   {"vectors", s.vectors},
                   {"pending", s.pending}});
    else
      std::cout << s.name << "\t" << s.dim << "\t" << MetricName(s.metric) << "\t" << s.vectors
                << " vectors" << (s.pending ? "\t" + std::to_string(s.pending) + " pending" : "")
                << "\n";
  }
  if (out.json) std::cout << j.dump(2) << "\n";
  return Status::Ok();
}

Status Search(Api& api, const Output& out, const SearchArgs& args) {
  VectorQuery q;
  q.ns = NsOrDefault(args.ns);
  q.space = args.space;
  q.text = args.text;
  q.embed_with = args.embed_with;
  if (q.space.empty() && q.embed_with.empty()) {  // (an operator knows its space)
    AIFS_ASSIGN_OR_RETURN(auto spaces, api.ListSpaces(q.ns));
    if (spaces.size() != 1)
      return err::InvalidArgument("SPACE_REQUIRED", "namespace '" + q.ns + "' has " +
                                                        std::to_string(spaces.size()) +
                                                        " spaces; name one with --space");
    q.space = spaces[0].name;
  }
  if (!args.vector_file.empty()) {
    AIFS_ASSIGN_OR_RETURN(q.vector, LoadVectorNpy(args.vector_file));
  }
  if (!args.like.empty()) {
    AIFS_ASSIGN_OR_RETURN(AssetId id, AssetId::Parse(args.like));
    q.like = id;
  }
  q.k = args.k;
  q.ef = args.ef;
  AIFS_ASSIGN_OR_RETURN(q.filters, ParseWhere(args.where));
  q.as_of = args.as_of;
  AIFS_ASSIGN_OR_RETURN(VectorResult r, api.VectorSearch(q));
  if (out.json) {
    nlohmann::json hits = nlohmann::json::array();
    for (const VectorHit& h : r.hits) {
      nlohmann::json hit = {{"id", h.id.ToHex()}, {"score", h.score}};
      if (h.source) hit["source"] = h.source->ToHex();
      if (h.source_range)
        hit["source_range"] = {{"offset", h.source_range->offset},
                               {"length", h.source_range->length}};
      hits.push_back(hit);
    }
    std::cout << nlohmann::json{{"space", r.space}, {"plan", r.plan}, {"hits", hits}}.dump(2)
              << "\n";
    return Status::Ok();
  }
  for (const VectorHit& h : r.hits)
    std::cout << h.id.ToHex() << "\t" << h.score
              << (h.source ? "\tsource " + h.source->ToHex() : "")
              // as `aifs cat SOURCE --range A-B` takes it (inclusive)
              << (h.source_range && h.source_range->length
                      ? "\tbytes " + std::to_string(h.source_range->offset) + "-" +
                            std::to_string(h.source_range->offset + h.source_range->length - 1)
                      : "")
              << "\n";
  return Status::Ok();
}

Status SpacePending(Api& api, const Output& out, const ReviewArgs& args) {
  AIFS_ASSIGN_OR_RETURN(auto pending, api.ListPendingEmbeddings(NsOrDefault(args.ns), args.space, 0));
  nlohmann::json j = nlohmann::json::array();
  for (const PendingEmbedding& p : pending) {
    if (out.json)
      j.push_back({{"id", p.id.ToHex()}, {"space", p.space}});
    else
      std::cout << p.id.ToHex() << "\t" << p.space << "\n";
  }
  if (out.json) std::cout << j.dump(2) << "\n";
  return Status::Ok();
}

Status SpaceReview(Api& api, const Output& out, const ReviewArgs& args) {
  EmbeddingReview review{NsOrDefault(args.ns), args.space, {}, args.approve};
  for (const std::string& s : args.ids) {
    AIFS_ASSIGN_OR_RETURN(AssetId id, AssetId::Parse(s));
    review.ids.push_back(id);
  }
  AIFS_ASSIGN_OR_RETURN(uint64_t n, api.ReviewEmbeddings(review));
  if (out.json)
    std::cout << nlohmann::json{{"reviewed", n}, {"approved", args.approve}}.dump(2) << "\n";
  else if (!out.quiet)
    std::cout << (args.approve ? "approved " : "rejected ") << n << "\n";
  return Status::Ok();
}

}  // namespace aifs::cli
