// VectorIndex: approximate k-NN (HNSW) over the vectors of one embedding
// space, keyed by AssetID, plus exact search over any candidate set.
//
// Promise: after Upsert(id, v) the asset is findable with vector v, after
// Remove(id) it never appears again (until re-upserted); results never name
// an asset twice. Scores are similarities, higher is better (see
// ScoreDefinition). Thread-safe: searches run concurrently with each other;
// changes take turns with everything.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "aifs/api/types.h"

namespace aifs {

struct ScoredId {
  AssetId id;
  float score = 0;
};

class VectorIndex {
 public:
  // `dim` floats per vector.
  static std::unique_ptr<VectorIndex> Create(uint32_t dim, VectorMetric metric);
  // Loads what Save wrote; DATA_LOSS INDEX_CORRUPT when it does not parse.
  static Result<std::unique_ptr<VectorIndex>> Load(const std::string& dir, uint32_t dim,
                                                   VectorMetric metric);
  virtual ~VectorIndex() = default;

  virtual Status Upsert(const AssetId& id, std::span<const float> vector) = 0;
  virtual void Remove(const AssetId& id) = 0;
  virtual size_t size() const = 0;  // live vectors
  // The k best by the HNSW graph, searching with `ef` candidates; those for
  // which `keep` is false are skipped (and do not count towards k).
  virtual std::vector<ScoredId> Search(std::span<const float> query, size_t k, size_t ef,
                                       const std::function<bool(const AssetId&)>& keep) const = 0;
  // Writes the index into `dir` (created; files replaced atomically).
  virtual Status Save(const std::string& dir) const = 0;
};

// The similarity AIFS reports for a metric: cosine similarity, inner
// product, or the negated squared Euclidean distance.
float Similarity(VectorMetric metric, std::span<const float> a, std::span<const float> b);
// Unit length for cosine spaces (the index stores normalised vectors).
void NormaliseFor(VectorMetric metric, std::vector<float>& v);

}  // namespace aifs
