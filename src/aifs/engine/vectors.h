// VectorManager: embedding spaces, the vectors attached to assets, their
// HNSW indexes and the search planner. Internal to the engine.
//
// The metadata store is the truth: a put's vectors are written by the commit
// that publishes the asset (vc/ records); they stay while the asset is only
// removed from the head and a retained snapshot holds it (searchable as of
// that snapshot, hidden at head), and go with the commit that releases it.
// The indexes are derived: an indexer thread follows the event log and
// applies each commit to the in-memory indexes, which are checkpointed to
// <data>/index/ with the log position they include. On open, the checkpoint
// is loaded and the log replayed from that position (or, when it is missing
// or damaged, every index is rebuilt from the vc/ records): nothing is lost.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <set>
#include <memory>
#include <shared_mutex>
#include <thread>

#include "aifs/api/types.h"
#include "aifs/engine/snapshots.h"
#include "aifs/engine/store_context.h"
#include "aifs/vector/vector_index.h"

namespace aifs {

class VectorManager {
 public:
  explicit VectorManager(StoreContext& ctx);
  ~VectorManager();  // stops the indexer; checkpoints when writable

  // Loads or rebuilds the indexes and starts following the log.
  Status Start();

  Result<EmbeddingSpace> CreateSpace(const std::string& ns, const EmbeddingSpace& space);
  Result<std::vector<EmbeddingSpace>> ListSpaces(const std::string& ns);
  // `members`, when given, is the set of assets eligible (an as-of search).
  Result<VectorResult> Search(const VectorQuery& query, const AssetSet* members = nullptr);
  Result<std::vector<PendingEmbedding>> ListPending(const std::string& ns, const std::string& space,
                                                    size_t limit);
  Result<uint64_t> Review(const EmbeddingReview& review);

  // Checks a put's embeddings against the namespace's spaces.
  Status Validate(const std::string& ns, const std::vector<Embedding>& embeddings);
  // Writes the current index state; the log position is stored with it.
  Status Checkpoint();
  // Throws the indexes away, builds them again from the stored vectors and
  // checkpoints the result.
  Status Rebuild();
  uint64_t applied_seq() const { return applied_.load(); }

 private:
  struct Index {
    EmbeddingSpace space;
    std::unique_ptr<VectorIndex> index;
    // Vectors of assets removed from the head and kept for the snapshots
    // that hold them (engine/reclaim.h): in the graph, found by searches as
    // of such a snapshot, hidden from head searches. Changed under mu_
    // held exclusively.
    AssetSet retired;
  };
  using Key = std::pair<std::string, std::string>;  // (namespace, space)

  Status RequireNamespace(const std::string& ns);
  Status LoadCheckpoint();
  // Replays the log from applied_ and starts the follower.
  Status ReplayAndFollow();
  Status RebuildFromRecords();
  void Follow();
  // Applies one log entry; upserts wait in pending_ for FlushUpserts (the
  // next entry of another kind, a full batch, or the end of a scan).
  Status Apply(uint64_t seq, std::string_view entry);
  Status FlushUpserts();
  // Upserts the assets' current vectors into every index of `ns`, in the
  // order given (each ID once).
  Status Reindex(const std::string& ns, const std::vector<AssetId>& ids);
  // An empty index for `space` unless there is one; takes mu_.
  void AddIndex(const std::string& ns, const EmbeddingSpace& space);
  // Fills each index's retired set from the ra/ records (after a load or a
  // rebuild; the log replay that follows brings it up to date).
  Status MarkRetired(std::map<Key, Index>& indexes);
  // What a search filters on: the asset's metadata, an Embed asset's source.
  Result<VectorAttrs> AttrsOf(const std::string& ns, const AssetId& id);
  Result<std::vector<float>> StoredVector(const std::string& ns, const std::string& space,
                                          const AssetId& id);
  // Waits (briefly) until the indexes include every commit made so far.
  void CatchUp();
  Index* Find(const std::string& ns, const std::string& space);  // caller holds mu_

  StoreContext& ctx_;
  const std::string dir_;
  std::shared_mutex mu_;
  std::map<Key, Index> indexes_;
  std::atomic<uint64_t> applied_{0};  // log position the indexes include
  std::atomic<uint64_t> changed_since_checkpoint_{0};   // index changes
  std::atomic<uint64_t> replayed_since_checkpoint_{0};  // log entries applied
  std::atomic<bool> stop_{false};
  std::thread follower_;
  // Upserts read from the log, not yet applied (the applying thread's only).
  std::vector<std::pair<std::string, AssetId>> pending_;
  std::mutex caught_up_mu_;
  std::condition_variable caught_up_;
};

// Vector records (vc/, vq/) are sealed: SealVector / OpenVector in record_keys.h.

// INVALID_ARGUMENT unless `v` may be stored in a space of `dim` and `metric`:
// DIMENSION_MISMATCH, BAD_VECTOR for NaN/infinity, absurd norms, and zero
// vectors in cosine spaces. `what` names the vector in the message.
Status CheckVector(const std::string& what, std::span<const float> v, uint32_t dim,
                   VectorMetric metric);

}  // namespace aifs
