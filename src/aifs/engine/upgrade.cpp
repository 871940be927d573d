#include "aifs/engine/upgrade.h"

#include <map>

#include "aifs/core/hex.h"
#include "aifs/core/random.h"
#include "aifs/engine/chunk_index.h"
#include "aifs/engine/namespace_record.h"
#include "aifs/engine/publish.h"
#include "aifs/engine/store_config.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"
#include "aifs/storage/chunk_sealer.h"

namespace aifs {

using store::v1::AssetRecord;
using store::v1::ChunkRecord;
using store::v1::NamespaceRecord;

namespace {

struct Rewritten {
  std::string key;         // ch/<ns>/<hash>
  std::string old_object;  // what the record named when it was read
  ChunkRecord rec;         // the new record (refcount filled in the commit)
};

// Keys of up to `limit` records under `prefix` that `old` says are of an
// older format.
template <typename Record>
Result<std::vector<std::string>> NextOld(MetaStore& meta, std::string_view prefix, size_t limit,
                                         uint64_t& scanned,
                                         const std::function<bool(const Record&)>& old) {
  std::vector<std::string> keys_out;
  Record rec;
  Status parse;
  AIFS_RETURN_IF_ERROR(
      meta.Scan(prefix, PrefixEnd(prefix), [&](std::string_view k, std::string_view v) {
        ++scanned;
        parse = ParseRecord(v, rec, "record");
        if (!parse.ok()) return false;
        if (old(rec)) keys_out.emplace_back(k);
        return keys_out.size() < limit;
      }));
  AIFS_RETURN_IF_ERROR(parse);
  return keys_out;
}

Status RewriteChunks(StoreContext& ctx, const std::vector<std::string>& batch,
                     UpgradeReport& report) {
  SealPolicy policy(ctx.compression);
  policy.segment_size = SegmentSizeOf(ctx.config);
  std::vector<Rewritten> done;
  std::vector<std::string> written;

  Status st;
  for (const std::string& key : batch) {
    std::string ns;
    Digest hash;
    if (!keys::ParseChunk(key, ns, hash)) {
      st = err::DataLoss("METADATA_CORRUPT", "bad chunk record key " + key);
      break;
    }
    auto rec = LoadRecord<ChunkRecord>(*ctx.meta, key, "CHUNK_MISSING", "chunk record");
    if (!rec.ok() && rec.status().code() == Code::kNotFound) continue;  // reclaimed meanwhile
    if (!rec.ok()) {
      st = rec.status();
      break;
    }
    Bytes object, plain, sealed;
    st = ctx.chunks->Get(rec->object(), object);
    if (st.ok()) st = OpenChunk(*ctx.kms, ns, hash, *rec, object, plain);
    if (!st.ok()) {
      st = st.WithContext("upgrading chunk " + key);
      break;
    }
    policy.kms_key_id = rec->kms_key_id();
    Rewritten r{key, rec->object(), {}};
    st = SealChunk(*ctx.kms, ns, hash, plain, policy, sealed, r.rec);
    if (!st.ok()) break;
    auto named = ctx.lease->NewObjectName();
    if (!named.ok()) {
      st = named.status();
      break;
    }
    r.rec.set_object(std::move(*named));
    ctx.in_flight.Add(r.rec.object());
    written.push_back(r.rec.object());
    st = ctx.chunks->Put(r.rec.object(), sealed);
    if (!st.ok()) break;
    report.bytes_rewritten += plain.size();
    done.push_back(std::move(r));
  }
  if (st.ok() && !done.empty()) st = ctx.chunks->Sync();
  std::vector<std::string> unused, replaced;
  if (st.ok() && !done.empty()) {
    st = RunTransaction(*ctx.meta, [&](MetaTxn& txn) -> Status {
      unused.clear();
      replaced.clear();
      AIFS_RETURN_IF_ERROR(ctx.lease->CheckHeld(txn, written));
      std::map<std::string, NamespaceRecord> namespaces;
      for (Rewritten& r : done) {
        AIFS_ASSIGN_OR_RETURN(auto cur, LoadRecord<ChunkRecord>(txn, r.key, "chunk"));
        if (!cur || cur->object() != r.old_object || cur->segment_size() != 0) {
          unused.push_back(r.rec.object());  // reclaimed or rewritten meanwhile
          continue;
        }
        std::string ns;
        Digest hash;
        keys::ParseChunk(r.key, ns, hash);
        auto it = namespaces.find(ns);
        if (it == namespaces.end()) {
          AIFS_ASSIGN_OR_RETURN(auto ns_rec,
                                LoadRecord<NamespaceRecord>(txn, keys::Namespace(ns), "namespace"));
          if (!ns_rec) return err::DataLoss("METADATA_CORRUPT", "chunk of a missing namespace");
          it = namespaces.emplace(ns, std::move(*ns_rec)).first;
        }
        it->second.set_stored_bytes(it->second.stored_bytes() - cur->stored_size() +
                                    r.rec.stored_size());
        r.rec.set_refcount(cur->refcount());
        AIFS_RETURN_IF_ERROR(PutRecord(txn, r.key, r.rec));
        replaced.push_back(r.old_object);
      }
      for (auto& [ns, rec] : namespaces) AIFS_RETURN_IF_ERROR(PutNamespaceRecord(txn, rec));
      return Status::Ok();
    });
  }
  if (!st.ok()) {
    DiscardObjects(ctx, written);
    return st;
  }
  DiscardObjects(ctx, unused);
  for (const std::string& n : written) ctx.in_flight.Remove(n);
  for (const std::string& old : replaced) (void)ctx.chunks->Delete(old);
  report.chunks_rewritten += replaced.size();
  return Status::Ok();
}

Status MoveChunkLists(StoreContext& ctx, const std::vector<std::string>& batch,
                      UpgradeReport& report) {
  uint64_t moved = 0;
  AIFS_RETURN_IF_ERROR(RunTransaction(*ctx.meta, [&](MetaTxn& txn) -> Status {
    moved = 0;
    for (const std::string& key : batch) {
      AIFS_ASSIGN_OR_RETURN(auto rec, LoadRecord<AssetRecord>(txn, key, "asset"));
      if (!rec || rec->chunks_size() == 0) continue;
      AIFS_ASSIGN_OR_RETURN(ChunkIndex index, ChunkIndex::FromRecord(*rec));
      AIFS_RETURN_IF_ERROR(
          txn.Put(keys::ChunkIndex(rec->ns(), FixedBytes<32>(rec->id())), index.packed()));
      rec->clear_chunks();
      rec->set_chunk_count(index.size());
      AIFS_RETURN_IF_ERROR(PutRecord(txn, key, *rec));
      ++moved;
    }
    return Status::Ok();
  }));
  report.asset_tables_written += moved;
  return Status::Ok();
}

}  // namespace

Result<UpgradeReport> UpgradeStore(StoreContext& ctx, const UpgradeOptions& options,
                                   const UpgradeProgress& progress) {
  if (options.batch_size == 0)
    return err::InvalidArgument("BAD_BATCH_SIZE", "upgrade batch size must be at least 1");
  UpgradeReport report;
  for (;;) {
    if (options.max_chunks && report.chunks_rewritten >= options.max_chunks) return report;
    uint64_t scanned = 0;
    AIFS_ASSIGN_OR_RETURN(
        auto batch,
        NextOld<ChunkRecord>(*ctx.meta, keys::kChunkPrefixAll, options.batch_size, scanned,
                             [](const ChunkRecord& r) { return r.segment_size() == 0; }));
    report.chunks_scanned = std::max(report.chunks_scanned, scanned);
    if (batch.empty()) break;
    const uint64_t before = report.chunks_rewritten;
    AIFS_RETURN_IF_ERROR(RewriteChunks(ctx, batch, report));
    if (progress) progress(report);
    if (report.chunks_rewritten == before) break;  // only records reclaimed meanwhile: rescan later
  }
  for (;;) {
    uint64_t scanned = 0;
    AIFS_ASSIGN_OR_RETURN(
        auto batch, NextOld<AssetRecord>(*ctx.meta, "as/", options.batch_size, scanned,
                                         [](const AssetRecord& r) { return r.chunks_size() > 0; }));
    report.assets_scanned = std::max(report.assets_scanned, scanned);
    if (batch.empty()) break;
    AIFS_RETURN_IF_ERROR(MoveChunkLists(ctx, batch, report));
    if (progress) progress(report);
  }
  report.complete = true;
  return report;
}

}  // namespace aifs
