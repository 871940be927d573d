// Staged assets and their publication: the one place where assets become
// visible. A put (or a transaction of several) stages each asset's chunks in
// the chunk store, then PublishAssets commits every record in a single
// metadata transaction: all of them or none.
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "aifs/api/types.h"
#include "aifs/engine/store_context.h"
#include "aifs/kinds/kind_validator.h"

namespace aifs {

struct StagedChunk {
  Digest hash{};
  uint64_t length = 0;
  bool writes_chunk = false;  // the first chunk of this put with its hash
  bool wrote_object = false;  // its sealed bytes are in the chunk store (own object or pack)
  store::v1::ChunkRecord record;
};

struct StagedAsset {
  PutOptions options;
  AssetId id;
  uint64_t size = 0;
  std::deque<StagedChunk> chunks;  // deque: pool tasks hold references into it
  std::optional<IndexableVector> indexable;  // from the kind (Embed assets)

  // The objects of their own its chunks were written to (not packs: a pack
  // belongs to the transaction that wrote it, chunk_objects.h).
  std::vector<std::string> WrittenObjects() const;
};

// Publishes `assets` (one namespace) atomically. Each parent must be committed
// already or be an earlier asset of `assets`. `results` gets one entry per
// asset; `unused` lists objects that ended up unreferenced (lost a race, or
// the asset existed) for the caller to delete. `also`, when given, writes
// more records in the same metadata transaction (it may run more than once;
// its error aborts the whole commit); with no assets it runs alone.
Status PublishAssets(StoreContext& ctx, const std::vector<const StagedAsset*>& assets,
                     std::vector<PutResult>& results, std::vector<std::string>& unused,
                     const std::function<Status(MetaTxn&)>& also = nullptr);

// NOT_FOUND NAMESPACE_NOT_FOUND, the same words wherever a namespace is missing.
Status NamespaceNotFound(const std::string& ns);
// NOT_FOUND ASSET_NOT_FOUND for a live asset that is not there.
Status AssetNotFound(const std::string& ns, const AssetId& id);

// RESOURCE_EXHAUSTED QUOTA_EXCEEDED when adding `bytes` and `assets` to the
// namespace would pass its policy's limits.
Status CheckQuota(const store::v1::NamespaceRecord& ns, uint64_t bytes, uint64_t assets);

// Adds `delta` to the parent's live-children count (delta 0 just reads it,
// joining the transaction's conflict check) and returns the new count.
Result<uint64_t> AdjustChildCount(MetaTxn& txn, const std::string& ns, const AssetId& parent,
                                  int delta);

// Deletes objects (best effort: failures are left to garbage collection) and
// forgets them as in flight.
void DiscardObjects(StoreContext& ctx, const std::vector<std::string>& names);

}  // namespace aifs
