#include "aifs/engine/publish.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "aifs/core/clock.h"
#include "aifs/engine/chunk_index.h"
#include "aifs/engine/chunk_objects.h"
#include "aifs/engine/events.h"
#include "aifs/engine/namespace_record.h"
#include "aifs/engine/paths.h"
#include "aifs/engine/reclaim.h"
#include "aifs/engine/records_view.h"
#include "aifs/engine/vectors.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"

namespace aifs {

using store::v1::AssetRecord;
using store::v1::ChildEdge;
using store::v1::ChunkRecord;
using store::v1::NamespaceRecord;

std::vector<std::string> StagedAsset::WrittenObjects() const {
  std::vector<std::string> out;
  for (const StagedChunk& c : chunks)
    if (c.wrote_object && !InPack(c.record)) out.push_back(c.record.object());
  return out;
}

void DiscardObjects(StoreContext& ctx, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    (void)ctx.chunks->Delete(name);
    ctx.in_flight.Remove(name);
  }
}

namespace {

// Takes references on the asset's chunks: creates the records of chunks this
// put stored, raises the refcount of existing ones.
Status ReferenceChunks(MetaTxn& txn, const std::string& ns, const StagedAsset& a,
                       NamespaceRecord& ns_rec, PutResult& result,
                       std::vector<std::string>& unused) {
  for (const StagedChunk& c : a.chunks) {
    if (!c.writes_chunk) continue;
    const std::string key = keys::Chunk(ns, c.hash);
    AIFS_ASSIGN_OR_RETURN(auto rec, LoadRecord<ChunkRecord>(txn, key, "chunk"));
    if (rec) {
      rec->set_refcount(rec->refcount() + 1);
      // Another put stored it first. A packed copy stays in its pack as dead
      // bytes until gc rewrites the pack (chunk_objects.h).
      if (c.wrote_object && !InPack(c.record)) unused.push_back(c.record.object());
      AIFS_RETURN_IF_ERROR(PutRecord(txn, key, *rec));
    } else if (c.wrote_object) {
      ChunkRecord fresh = c.record;
      fresh.set_refcount(1);
      AIFS_RETURN_IF_ERROR(PutRecord(txn, key, fresh));
      ns_rec.set_chunk_count(ns_rec.chunk_count() + 1);
      ns_rec.set_stored_bytes(ns_rec.stored_bytes() + fresh.stored_size());
      ns_rec.set_unique_bytes(ns_rec.unique_bytes() + fresh.plain_size());
      ++result.chunks_new;
      result.bytes_stored += fresh.stored_size();
    } else {
      return err::Aborted("CHUNK_RECLAIMED",
                          "a chunk this put deduplicated against was deleted meanwhile; "
                          "retry the put");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<uint64_t> AdjustChildCount(MetaTxn& txn, const std::string& ns, const AssetId& parent,
                                  int delta) {
  const std::string key = keys::ChildCount(ns, parent.bytes());
  AIFS_ASSIGN_OR_RETURN(auto value, txn.Get(key));
  uint64_t count = value ? std::strtoull(value->c_str(), nullptr, 10) : 0;
  if (delta < 0 && count < static_cast<uint64_t>(-delta)) count = 0;
  else count = static_cast<uint64_t>(static_cast<int64_t>(count) + delta);
  if (delta != 0) {
    if (count == 0) AIFS_RETURN_IF_ERROR(txn.Delete(key));
    else AIFS_RETURN_IF_ERROR(txn.Put(key, std::to_string(count)));
  }
  return count;
}

namespace {

std::string ChunkTable(const StagedAsset& a) {
  std::vector<std::pair<Digest, uint64_t>> chunks;
  chunks.reserve(a.chunks.size());
  for (const StagedChunk& c : a.chunks) chunks.emplace_back(c.hash, c.length);
  return ChunkIndex::Encode(chunks);
}

AssetRecord NewAssetRecord(const StagedAsset& a) {
  AssetRecord rec;
  rec.set_id(a.id.bytes().data(), a.id.bytes().size());
  rec.set_ns(a.options.ns);
  rec.set_kind(static_cast<store::v1::AssetKind>(a.options.kind));
  rec.set_size(a.size);
  rec.mutable_metadata()->insert(a.options.metadata.begin(), a.options.metadata.end());
  rec.set_chunk_count(a.chunks.size());  // the list itself goes to ci/ (ChunkTable)
  if (a.indexable && a.indexable->source) rec.set_embed_source(std::string(AsChars(a.indexable->source->bytes())));
  for (const ParentRef& p : a.options.parents) {
    auto* edge = rec.add_parents();
    edge->set_parent(p.parent.bytes().data(), p.parent.bytes().size());
    edge->set_transform(p.transform);
    edge->set_transform_digest(p.transform_digest);
  }
  rec.set_created_unix_ns(NowUnixNanos());
  return rec;
}

// Writes the asset's vectors: those attached to the put, and the one an
// Embed asset offers when its namespace has a space named after its model.
// A quarantining namespace holds them out of search (vq/). Returns whether
// the index has anything new to pick up.
Result<bool> WriteVectors(MetaTxn& txn, const NamespaceRecord& ns, const RecordKey& key,
                          const StagedAsset& a) {
  const bool hold = ns.policy().quarantine_embeddings();
  auto put = [&](const std::string& space, std::span<const float> values) -> Status {
    AIFS_ASSIGN_OR_RETURN(std::string sealed, SealVector(key, ns.name(), space, a.id, values));
    return txn.Put(hold ? keys::PendingVector(ns.name(), space, a.id.bytes())
                        : keys::Vector(ns.name(), space, a.id.bytes()),
                   sealed);
  };
  for (const Embedding& e : a.options.embeddings) AIFS_RETURN_IF_ERROR(put(e.space, e.values));
  bool offered = false;
  if (a.indexable) {
    AIFS_ASSIGN_OR_RETURN(auto space,
                          LoadRecord<store::v1::SpaceRecord>(
                              txn, keys::Space(ns.name(), a.indexable->space), "space"));
    if (space) {
      AIFS_RETURN_IF_ERROR(CheckVector("the Embed asset's vector for space '" + space->name() + "'",
                                       a.indexable->values, space->dim(),
                                       static_cast<VectorMetric>(space->metric())));
      AIFS_RETURN_IF_ERROR(put(space->name(), a.indexable->values));
      offered = true;
    }
  }
  return !hold && (offered || !a.options.embeddings.empty());
}

}  // namespace

Status AssetNotFound(const std::string& ns, const AssetId& id) {
  return err::NotFound("ASSET_NOT_FOUND",
                       "asset " + id.ToHex() + " in namespace '" + ns + "' not found");
}

Status NamespaceNotFound(const std::string& ns) {
  return err::NotFound("NAMESPACE_NOT_FOUND", "namespace '" + ns + "' not found");
}

Status CheckQuota(const NamespaceRecord& ns, uint64_t bytes, uint64_t assets) {
  const auto& p = ns.policy();
  if (p.max_logical_bytes() && ns.logical_bytes() + bytes > p.max_logical_bytes())
    return err::ResourceExhausted(
        "QUOTA_EXCEEDED", "namespace '" + ns.name() + "' would hold " +
                              std::to_string(ns.logical_bytes() + bytes) + " bytes, over its " +
                              std::to_string(p.max_logical_bytes()) + "-byte quota");
  if (p.max_assets() && ns.asset_count() + assets > p.max_assets())
    return err::ResourceExhausted("QUOTA_EXCEEDED", "namespace '" + ns.name() +
                                                        "' would hold more than its " +
                                                        std::to_string(p.max_assets()) +
                                                        " assets");
  return Status::Ok();
}

Status PublishAssets(StoreContext& ctx, const std::vector<const StagedAsset*>& assets,
                     std::vector<PutResult>& results, std::vector<std::string>& unused,
                     const std::function<Status(MetaTxn&)>& also) {
  if (assets.empty()) return also ? RunTransaction(*ctx.meta, also) : Status::Ok();
  const std::string ns = assets.front()->options.ns;
  // Objects written under a lease that garbage collection revoked may be
  // gone: a commit that would publish them must fail (checked in its
  // transaction).
  // Objects of their own and packs (CheckHeld reads each lease once).
  std::vector<std::string> written;
  for (const StagedAsset* a : assets)
    for (const StagedChunk& c : a->chunks)
      if (c.wrote_object) written.push_back(c.record.object());
  const auto turn = ctx.commit_turns.Take(ns);
  return RunTransaction(*ctx.meta, [&](MetaTxn& txn) -> Status {
    results.assign(assets.size(), PutResult{});
    unused.clear();
    const std::string ns_key = keys::Namespace(ns);
    AIFS_ASSIGN_OR_RETURN(auto ns_rec, LoadRecord<NamespaceRecord>(txn, ns_key, "namespace"));
    if (!ns_rec) return NamespaceNotFound(ns);
    AIFS_RETURN_IF_ERROR(ctx.lease->CheckHeld(txn, written));
    // The namespace's record key seals metadata and vectors; one from before
    // record keys gets it now, written with the namespace record below.
    AIFS_ASSIGN_OR_RETURN(const RecordKey record_key, ctx.record_keys->Of(*ns_rec));
    std::set<AssetId> published;  // earlier assets of this batch
    for (size_t i = 0; i < assets.size(); ++i) {
      const StagedAsset& a = *assets[i];
      PutResult& result = results[i];
      result.chunks_total = a.chunks.size();
      // Strong causality: every parent is read inside this transaction, so a
      // parent deleted concurrently makes the commit conflict and re-check.
      for (const ParentRef& p : a.options.parents) {
        if (published.count(p.parent)) continue;
        AIFS_ASSIGN_OR_RETURN(auto parent, txn.Get(keys::Asset(ns, p.parent.bytes())));
        if (!parent)
          return err::FailedPrecondition(
              "PARENT_NOT_COMMITTED",
              "parent " + p.parent.ToHex() + " is not a committed asset of '" + ns + "'");
      }
      const std::string asset_key = keys::Asset(ns, a.id.bytes());
      AIFS_ASSIGN_OR_RETURN(auto existing, LoadRecord<AssetRecord>(txn, asset_key, "asset"));
      AssetRecord rec;
      AIFS_ASSIGN_OR_RETURN(const bool vectors, WriteVectors(txn, *ns_rec, record_key, a));
      if (existing) {
        // Same bytes, same asset: nothing new is stored, the first record
        // stays; vectors given now are added (or replace older ones).
        rec = std::move(*existing);
        AIFS_RETURN_IF_ERROR(OpenAssetRecord(*ctx.record_keys, rec));
        for (const auto& o : a.WrittenObjects()) unused.push_back(o);
        if (vectors) EmitEvent(txn, {.type = EventType::kIndexUpdated, .ns = ns, .asset = a.id});
      } else {
        AIFS_RETURN_IF_ERROR(CheckQuota(*ns_rec, a.size, 1));
        rec = NewAssetRecord(a);
        // Removed from the head but kept for a snapshot: it comes back with
        // the chunk references (and table) it still holds (engine/reclaim.h).
        AIFS_ASSIGN_OR_RETURN(auto retired, TakeBackRetired(txn, *ns_rec, a.id));
        if (retired) {
          KeepChunkLayout(*retired, rec);
          for (const auto& o : a.WrittenObjects()) unused.push_back(o);
        } else {
          AIFS_RETURN_IF_ERROR(ReferenceChunks(txn, ns, a, *ns_rec, result, unused));
        }
        AssetRecord sealed = rec;
        AIFS_RETURN_IF_ERROR(SealAssetRecord(record_key, sealed));
        AIFS_RETURN_IF_ERROR(PutRecord(txn, asset_key, sealed));
        if (!retired && rec.chunk_count() > 0)
          AIFS_RETURN_IF_ERROR(txn.Put(keys::ChunkIndex(ns, a.id.bytes()), ChunkTable(a)));
        EmitEvent(txn, {.type = EventType::kAssetCommitted,
                        .unix_ns = rec.created_unix_ns(),
                        .ns = ns,
                        .asset = a.id});
        for (const ParentRef& p : a.options.parents) {
          AIFS_RETURN_IF_ERROR(AdjustChildCount(txn, ns, p.parent, +1).status());
          ChildEdge edge;
          edge.set_child(a.id.bytes().data(), a.id.bytes().size());
          edge.set_transform(p.transform);
          edge.set_transform_digest(p.transform_digest);
          AIFS_RETURN_IF_ERROR(
              PutRecord(txn, keys::Child(ns, p.parent.bytes(), a.id.bytes()), edge));
          EmitEvent(txn, {.type = EventType::kLineageEdgeAdded,
                          .unix_ns = rec.created_unix_ns(),
                          .ns = ns,
                          .asset = a.id,
                          .parent = p.parent,
                          .name = p.transform});
        }
        AIFS_RETURN_IF_ERROR(txn.Put(keys::Change(ns, ns_rec->change_generation(), a.id.bytes()), "+"));
        // A re-put of a force-deleted asset brings it back to life; the edges
        // to the parents of its old life go, the new ones were written above.
        const std::string tomb_key = keys::Tombstone(ns, a.id.bytes());
        AIFS_ASSIGN_OR_RETURN(auto tomb, LoadRecord<store::v1::Tombstone>(txn, tomb_key, "tombstone"));
        if (tomb) {
          for (const auto& edge : tomb->asset().parents()) {
            auto parent = AssetId::FromBytes(AsBytes(edge.parent()));
            const bool still = std::any_of(a.options.parents.begin(), a.options.parents.end(),
                                           [&](const ParentRef& p) { return parent && p.parent == *parent; });
            if (parent && !still)
              AIFS_RETURN_IF_ERROR(txn.Delete(keys::Child(ns, parent->bytes(), a.id.bytes())));
          }
          AIFS_RETURN_IF_ERROR(txn.Delete(tomb_key));
        }
        ns_rec->set_asset_count(ns_rec->asset_count() + 1);
        ns_rec->set_logical_bytes(ns_rec->logical_bytes() + a.size);
        result.created = true;
      }
      if (a.options.path)
        AIFS_RETURN_IF_ERROR(BindPathInTxn(txn, *ns_rec, *a.options.path, a.id).status());
      published.insert(a.id);
      result.asset = ToAssetInfo(rec);
    }
    if (also) AIFS_RETURN_IF_ERROR(also(txn));
    return PutNamespaceRecord(txn, *ns_rec);
  });
}

}  // namespace aifs
