// VectorIndex: approximate k-NN (HNSW) over the vectors of one embedding
// space, keyed by AssetID, plus exact search, both with a filter over what
// each vector carries (VectorAttrs).
//
// Promise: after Upsert(id, v, attrs) the asset is findable with vector v and
// filtered by attrs, after Remove(id) it never appears again (until
// re-upserted); results never name an asset twice. Scores are similarities,
// higher is better (see Similarity). Thread-safe: searches run concurrently
// with each other (each with its own ef) and with the graph insertions of
// changes; changes take turns with each other.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "aifs/api/types.h"
#include "aifs/core/thread_pool.h"
#include "aifs/storage/sealed_value.h"

namespace aifs {

// What a search may filter on and report, kept in memory next to the vector
// so that filtering a candidate costs no I/O.
struct VectorAttrs {
  std::vector<std::pair<std::string, std::string>> metadata;  // the asset's, sorted by key
  std::optional<AssetId> source;  // an Embed asset's vectors describe this asset
  // The passage of `source` (kSourceOffsetKey/kSourceLengthKey in the
  // metadata), when the vectors describe one.
  std::optional<ReadRange> SourceRange() const;
};

struct ScoredId {
  AssetId id;
  float score = 0;
  std::optional<AssetId> source;
  std::optional<ReadRange> source_range;
};

// True for the vectors a search may return.
using VectorFilter = std::function<bool(const AssetId&, const VectorAttrs&)>;

struct VectorSearchOutcome {
  std::vector<ScoredId> hits;  // best first, at most k
  // The walk gave up after visiting `max_visits` vectors (a filter that
  // rejects nearly everything): the hits may be far from the best.
  bool gave_up = false;
};

class VectorIndex {
 public:
  // `dim` floats per vector.
  static std::unique_ptr<VectorIndex> Create(uint32_t dim, VectorMetric metric);
  // Loads what Save wrote with the same key and context; DATA_LOSS
  // INDEX_CORRUPT when it does not open (another key or context, changed
  // bytes, a plaintext checkpoint of an older build) or does not parse.
  static Result<std::unique_ptr<VectorIndex>> Load(const std::string& dir, uint32_t dim,
                                                   VectorMetric metric, const RecordKey& key,
                                                   ByteSpan context);
  virtual ~VectorIndex() = default;

  virtual Status Upsert(const AssetId& id, std::span<const float> vector, VectorAttrs attrs) = 0;
  // Many upserts at once, as if made one by one in order (an ID given twice
  // ends with its last), the graph insertions spread over `pool`'s threads
  // and the caller's (nullptr: the caller's only). INVALID_ARGUMENT
  // DIMENSION_MISMATCH (nothing done) when a vector has the wrong length.
  struct Upsertion {
    AssetId id;
    std::span<const float> vector;  // the caller keeps it alive during the call
    VectorAttrs attrs;
  };
  virtual Status UpsertMany(std::vector<Upsertion> items, ThreadPool* pool) = 0;
  virtual void Remove(const AssetId& id) = 0;
  virtual size_t size() const = 0;  // live vectors
  virtual bool Contains(const AssetId& id) const = 0;  // upserted and not removed since

  // Best-first walk of the HNSW graph keeping the `ef` best vectors that pass
  // `filter` (all when it is empty); vectors that fail it are walked through
  // but never returned, so a selective filter widens the walk instead of
  // emptying the result. Stops early (gave_up) after `max_visits` vectors.
  virtual VectorSearchOutcome Search(std::span<const float> query, size_t k, size_t ef,
                                     const VectorFilter& filter, size_t max_visits) const = 0;
  // The exact k best among all live vectors that pass `filter`.
  virtual std::vector<ScoredId> Exact(std::span<const float> query, size_t k,
                                      const VectorFilter& filter) const = 0;
  // Metadata postings, for selective filters: how many vectors have
  // metadata `key` equal to one of `values` (distinct values; an upper
  // bound, as removed vectors count), and the exact k best among the live
  // ones that also pass `filter` (which need not repeat the condition).
  virtual size_t CountWith(const std::string& key, const std::vector<std::string>& values) const = 0;
  virtual std::vector<ScoredId> ExactWith(std::span<const float> query, size_t k,
                                          const std::string& key,
                                          const std::vector<std::string>& values,
                                          const VectorFilter& filter) const = 0;
  // Writes the index into `dir` (created; files replaced atomically), every
  // file sealed (storage/sealed_file.h) with `key` under `context` plus the
  // file's name: the graph holds the vectors, the labels their metadata.
  // The plaintext passes through memory only (a memfd), never a disk file.
  virtual Status Save(const std::string& dir, const RecordKey& key, ByteSpan context) const = 0;
};

// The similarity AIFS reports for a metric: cosine similarity, inner
// product, or the negated squared Euclidean distance.
float Similarity(VectorMetric metric, std::span<const float> a, std::span<const float> b);

}  // namespace aifs
