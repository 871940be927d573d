#include "aifs/engine/reclaim.h"

#include <set>
#include <span>

#include "aifs/core/clock.h"
#include "aifs/engine/chunk_index.h"
#include "aifs/engine/chunk_objects.h"
#include "aifs/engine/events.h"
#include "aifs/engine/namespace_record.h"
#include "aifs/engine/publish.h"
#include "aifs/engine/records_view.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"

namespace aifs {

using store::v1::AssetRecord;
using store::v1::ChunkRecord;
using store::v1::NamespaceRecord;

Status RetireAsset(MetaTxn& txn, NamespaceRecord& ns_rec, const AssetRecord& asset) {
  const Digest id = FixedBytes<32>(asset.id());
  AssetRecord retired = asset;
  ns_rec.set_retire_seq(ns_rec.retire_seq() + 1);
  retired.set_retired_seq(ns_rec.retire_seq());
  retired.set_retired_unix_ns(NowUnixNanos());
  AIFS_RETURN_IF_ERROR(PutRecord(txn, keys::Retired(ns_rec.name(), id), retired));
  AIFS_RETURN_IF_ERROR(txn.Delete(keys::Asset(ns_rec.name(), id)));
  ns_rec.set_asset_count(ns_rec.asset_count() - 1);
  ns_rec.set_logical_bytes(ns_rec.logical_bytes() - asset.size());
  ns_rec.set_retired_count(ns_rec.retired_count() + 1);
  ns_rec.set_retired_bytes(ns_rec.retired_bytes() + asset.size());
  return Status::Ok();
}

namespace {

void Unretire(NamespaceRecord& ns_rec, const AssetRecord& retired) {
  ns_rec.set_retired_count(ns_rec.retired_count() - std::min<uint64_t>(ns_rec.retired_count(), 1));
  ns_rec.set_retired_bytes(ns_rec.retired_bytes() -
                           std::min<uint64_t>(ns_rec.retired_bytes(), retired.size()));
}

}  // namespace

Result<std::optional<AssetRecord>> TakeBackRetired(MetaTxn& txn, NamespaceRecord& ns_rec,
                                                   const AssetId& id) {
  const std::string key = keys::Retired(ns_rec.name(), id.bytes());
  AIFS_ASSIGN_OR_RETURN(auto retired, LoadRecord<AssetRecord>(txn, key, "retired asset"));
  if (!retired) return std::optional<AssetRecord>();
  AIFS_RETURN_IF_ERROR(txn.Delete(key));
  Unretire(ns_rec, *retired);
  return retired;
}

void KeepChunkLayout(const AssetRecord& from, AssetRecord& rec) {
  *rec.mutable_chunks() = from.chunks();
  rec.set_chunk_count(from.chunk_count());
}

Result<AssetRecord> LoadAssetAnyState(StoreContext& ctx, const std::string& ns, const AssetId& id,
                                      bool open_sealed) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  std::optional<std::string> bytes;
  for (const std::string& key : {keys::Asset(ns, id.bytes()), keys::Retired(ns, id.bytes())}) {
    AIFS_ASSIGN_OR_RETURN(bytes, ctx.meta->Get(key));
    if (bytes) break;
  }
  if (!bytes) {
    AIFS_ASSIGN_OR_RETURN(auto ns_rec, ctx.meta->Get(keys::Namespace(ns)));
    if (!ns_rec) return NamespaceNotFound(ns);
    return AssetNotFound(ns, id);
  }
  AssetRecord rec;
  AIFS_RETURN_IF_ERROR(ParseRecord(*bytes, rec, "asset"));
  if (open_sealed) AIFS_RETURN_IF_ERROR(OpenAssetRecord(*ctx.record_keys, rec));
  return rec;
}

Status ReleaseChunks(MetaTxn& txn, NamespaceRecord& ns_rec, const AssetRecord& asset,
                     std::vector<std::string>& objects, std::vector<Digest>& hashes,
                     uint64_t& bytes) {
  const std::string& ns = ns_rec.name();
  const Digest id = FixedBytes<32>(asset.id());
  AIFS_ASSIGN_OR_RETURN(ChunkIndex index,
                        LoadChunkIndex([&](const std::string& k) { return txn.Get(k); }, asset));
  if (ChunksStoredApart(asset)) AIFS_RETURN_IF_ERROR(txn.Delete(keys::ChunkIndex(ns, id)));
  std::set<Digest> seen;
  for (size_t i = 0; i < index.size(); ++i) {
    const Digest hash = index.at(i).hash;
    if (!seen.insert(hash).second) continue;
    const std::string chunk_key = keys::Chunk(ns, hash);
    AIFS_ASSIGN_OR_RETURN(auto chunk, LoadRecord<ChunkRecord>(txn, chunk_key, "chunk"));
    if (!chunk) continue;  // already gone: nothing to release
    if (chunk->refcount() > 1) {
      chunk->set_refcount(chunk->refcount() - 1);
      AIFS_RETURN_IF_ERROR(PutRecord(txn, chunk_key, *chunk));
      continue;
    }
    AIFS_RETURN_IF_ERROR(txn.Delete(chunk_key));
    ns_rec.set_chunk_count(ns_rec.chunk_count() - 1);
    ns_rec.set_stored_bytes(ns_rec.stored_bytes() - chunk->stored_size());
    ns_rec.set_unique_bytes(ns_rec.unique_bytes() - chunk->plain_size());
    // A pack goes once no chunk points into it: gc's sweep (chunk_objects.h).
    if (!InPack(*chunk)) objects.push_back(chunk->object());
    hashes.push_back(hash);
    bytes += chunk->stored_size();
  }
  return Status::Ok();
}

Status DeleteVectors(MetaStore& meta, MetaTxn& txn, const std::string& ns, const AssetId& id,
                     bool searchable_too) {
  std::vector<std::string> vector_keys;
  const std::string spaces = keys::SpacePrefix(ns);
  AIFS_RETURN_IF_ERROR(
      meta.Scan(spaces, PrefixEnd(spaces), [&](std::string_view k, std::string_view) {
        const auto space = k.substr(spaces.size());
        if (searchable_too) vector_keys.push_back(keys::Vector(ns, space, id.bytes()));
        vector_keys.push_back(keys::PendingVector(ns, space, id.bytes()));
        return true;
      }));
  for (const auto& k : vector_keys) AIFS_RETURN_IF_ERROR(txn.Delete(k));
  return Status::Ok();
}

Status Reclaimer::Run(bool dry_run, GcReport& report) {
  std::vector<std::string> names;
  AIFS_RETURN_IF_ERROR(ctx_.meta->Scan(keys::kNamespacePrefix, PrefixEnd(keys::kNamespacePrefix),
                                       [&](std::string_view key, std::string_view) {
                                         names.emplace_back(
                                             key.substr(keys::kNamespacePrefix.size()));
                                         return true;
                                       }));
  for (const std::string& ns : names) AIFS_RETURN_IF_ERROR(RunNamespace(ns, dry_run, report));
  return Status::Ok();
}

Status Reclaimer::RunNamespace(const std::string& ns, bool dry_run, GcReport& report) {
  // Retirements first, snapshots after (see the header).
  std::vector<Retirement> listed;
  AssetSet candidates;
  Status parse;
  const std::string prefix = keys::RetiredPrefix(ns);
  AIFS_RETURN_IF_ERROR(
      ctx_.meta->Scan(prefix, PrefixEnd(prefix), [&](std::string_view, std::string_view value) {
        AssetRecord rec;
        parse = ParseRecord(value, rec, "retired asset");
        auto id = AssetId::FromBytes(AsBytes(rec.id()));
        if (parse.ok() && !id)
          parse = err::DataLoss("METADATA_CORRUPT", "retired asset without an ID");
        if (!parse.ok()) return false;
        listed.push_back({*id, rec.retired_seq()});
        candidates.insert(id->bytes());
        return true;
      }));
  AIFS_RETURN_IF_ERROR(parse);
  if (listed.empty()) return Status::Ok();
  AIFS_ASSIGN_OR_RETURN(AssetSet retained, snapshots_.RetainedAmong(ns, candidates));
  std::vector<Retirement> unheld;
  for (const Retirement& r : listed) {
    if (retained.count(r.id.bytes()))
      ++report.assets_retained;
    else if (dry_run)
      ++report.assets_released;
    else
      unheld.push_back(r);
  }
  for (size_t i = 0; i < unheld.size(); i += kReleaseBatch) {
    const size_t n = std::min(kReleaseBatch, unheld.size() - i);
    // Outrun by commits racing for the namespace record many times over:
    // left retired for the next run rather than failing the whole gc.
    Status st = Release(ns, std::span(unheld).subspan(i, n), report);
    if (!st.ok() && st.reason() != "TXN_CONFLICT") return st;
  }
  return Status::Ok();
}

Status Reclaimer::ReleaseIfUnheld(const std::string& ns, const AssetId& id, uint64_t retired_seq) {
  // The retirement committed before this lists the snapshots (the order Run
  // keeps), and Release checks it is still the same one.
  AIFS_ASSIGN_OR_RETURN(AssetSet retained, snapshots_.RetainedAmong(ns, AssetSet{id.bytes()}));
  if (retained.count(id.bytes())) return Status::Ok();
  GcReport unused;
  const Retirement one{id, retired_seq};
  return Release(ns, std::span(&one, 1), unused);
}

Status Reclaimer::Release(const std::string& ns, std::span<const Retirement> batch,
                          GcReport& report) {
  // Totals change by what `delta` loses from kBase: the namespace record is
  // read last, so only a commit between that read and this one conflicts
  // (puts rewrite it all the time).
  constexpr uint64_t kBase = uint64_t{1} << 62;
  std::vector<std::string> objects;
  std::vector<Digest> hashes;
  uint64_t bytes = 0, released = 0, held_by_building = 0;
  Status st = RunTransaction(*ctx_.meta, [&](MetaTxn& txn) -> Status {
    objects.clear();
    hashes.clear();
    bytes = released = held_by_building = 0;
    NamespaceRecord delta;
    delta.set_name(ns);
    delta.set_chunk_count(kBase);
    delta.set_stored_bytes(kBase);
    delta.set_unique_bytes(kBase);
    delta.set_retired_count(kBase);
    delta.set_retired_bytes(kBase);
    // A snapshot being built (store::v1::SnapshotCursor) may hold what was
    // retired after it closed its generation: nothing goes until it is done.
    AIFS_ASSIGN_OR_RETURN(auto cursor, LoadRecord<store::v1::SnapshotCursor>(
                                           txn, keys::SnapshotCursor(ns), "snapshot cursor"));
    if (cursor && cursor->building()) {
      held_by_building = batch.size();
      return Status::Ok();
    }
    for (const Retirement& r : batch) {
      const std::string key = keys::Retired(ns, r.id.bytes());
      AIFS_ASSIGN_OR_RETURN(auto retired, LoadRecord<AssetRecord>(txn, key, "retired asset"));
      if (!retired || retired->retired_seq() != r.seq) continue;  // taken back or retired anew
      Status released_chunks = ReleaseChunks(txn, delta, *retired, objects, hashes, bytes);
      if (released_chunks.reason() == "METADATA_CORRUPT") {
        // Reads in a transaction see the latest commits, not one moment: a
        // release of the same asset (rm's, or another gc's) that committed
        // after the record was read took its chunk table too. That is a
        // conflict to retry; a record still there without its table is not.
        AIFS_ASSIGN_OR_RETURN(auto now, ctx_.meta->Get(key));
        if (!now) return err::Aborted("TXN_CONFLICT", "the asset was released meanwhile");
      }
      AIFS_RETURN_IF_ERROR(released_chunks);
      AIFS_RETURN_IF_ERROR(DeleteVectors(*ctx_.meta, txn, ns, r.id, /*searchable_too=*/true));
      AIFS_RETURN_IF_ERROR(txn.Delete(key));
      Unretire(delta, *retired);
      EmitEvent(txn, {.type = EventType::kAssetReleased, .ns = ns, .asset = r.id});
      ++released;
    }
    if (released == 0) return Status::Ok();
    const std::string ns_key = keys::Namespace(ns);
    AIFS_ASSIGN_OR_RETURN(auto ns_rec, LoadRecord<NamespaceRecord>(txn, ns_key, "namespace"));
    if (!ns_rec) return NamespaceNotFound(ns);  // deleted with all it held
    ns_rec->set_chunk_count(ns_rec->chunk_count() - (kBase - delta.chunk_count()));
    ns_rec->set_stored_bytes(ns_rec->stored_bytes() - (kBase - delta.stored_bytes()));
    ns_rec->set_unique_bytes(ns_rec->unique_bytes() - (kBase - delta.unique_bytes()));
    ns_rec->set_retired_count(ns_rec->retired_count() - (kBase - delta.retired_count()));
    ns_rec->set_retired_bytes(ns_rec->retired_bytes() - (kBase - delta.retired_bytes()));
    return PutNamespaceRecord(txn, *ns_rec);
  });
  if (st.reason() == "NAMESPACE_NOT_FOUND") return Status::Ok();
  AIFS_RETURN_IF_ERROR(st);
  report.assets_released += released;
  report.assets_retained += held_by_building;
  report.chunks_released += objects.size();
  report.bytes_released += bytes;
  // After the commit: a failure (or a crash before) leaves orphans for the
  // object sweep.
  for (const auto& name : objects) (void)ctx_.chunks->Delete(name);
  for (const Digest& h : hashes) ctx_.segments->Forget(ns, h);
  return Status::Ok();
}

}  // namespace aifs
