// Engine::RewrapKeys: moves wrapped data keys (chunks', namespaces'
// snapshot-signing seeds and record keys, token root keys) to their target
// KMS key version, then seals what a store of format 1 left in clear
// (Resealer, reseal.h) and compacts the metadata so no file keeps it.
//
// Crash safety: records are rewritten only in metadata transactions that
// also advance the cursor (kr/rewrap), so after a crash every record is
// either wholly old (old key ID + old blob, or plaintext) or wholly new, and
// the cursor never claims more than was committed. The chunk objects are
// never written: the data key does not change, only its wrapping. A rerun
// resumes after the cursor; a record already done is left alone, so any
// overlap is harmless. The cursor is removed only after the compaction, so
// a crash before it leaves the compaction to the rerun.
#include <functional>
#include <map>

#include "aifs/auth/root_keys.h"
#include "aifs/core/clock.h"
#include "aifs/core/hex.h"
#include "aifs/engine/engine.h"
#include "aifs/engine/namespace_record.h"
#include "aifs/engine/reseal.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"
#include "aifs/snapshot/snapshot_format.h"
#include "aifs/storage/chunk_sealer.h"

namespace aifs {

using store::v1::ChunkRecord;
using store::v1::NamespaceRecord;
using store::v1::RewrapCursor;

namespace {

RewrapReport ToReport(const RewrapCursor& c, bool resumed) {
  RewrapReport r;
  r.target_key = c.target_key();
  r.resumed = resumed;
  r.chunks_scanned = c.chunks_scanned();
  r.chunks_rewrapped = c.chunks_rewrapped();
  r.namespaces_rewrapped = c.namespaces_rewrapped();
  r.root_keys_rewrapped = c.root_keys_rewrapped();
  r.records_resealed = c.records_resealed();
  r.vectors_resealed = c.vectors_resealed();
  return r;
}

Status SaveCursor(MetaStore& meta, const RewrapCursor& cursor) {
  return RunTransaction(
      meta, [&](MetaTxn& txn) { return PutRecord(txn, std::string(keys::kRewrapCursor), cursor); });
}

// One step of a walk (see Walk).
struct BatchStep {
  // Outside the transaction, on each batch's keys first (may be empty).
  std::function<Status(const std::vector<std::string>& keys)> prepare;
  // Inside it, per key: rewrites the record if it is not done yet, and
  // counts in `next` (a fresh copy of the cursor each time the transaction
  // body runs).
  std::function<Status(MetaTxn& txn, const std::string& key, RewrapCursor& next)> visit;
  // Checked before each batch: stop here (the cursor says where to go on).
  std::function<bool(const RewrapCursor& cursor)> stop;
};

// Walks the keys of [begin, end) after cursor.after() in batches of up to
// `batch_size`; each batch is visited in one transaction that also saves the
// cursor with `after` = its last key. Reports each committed batch to
// `committed`. Returns whether it reached `end` (false: stopped early).
Result<bool> Walk(MetaStore& meta, std::string_view begin, std::string_view end,
                  uint32_t batch_size, RewrapCursor& cursor, const BatchStep& step,
                  const std::function<void(const RewrapCursor&)>& committed) {
  for (;;) {
    if (step.stop(cursor)) return false;
    // The next batch of keys (values are re-read in the transaction, which
    // is what the conflict check guards).
    std::vector<std::string> batch;
    const std::string from = cursor.after() < begin ? std::string(begin) : cursor.after() + '\0';
    AIFS_RETURN_IF_ERROR(meta.Scan(from, end, [&](std::string_view k, std::string_view) {
      batch.emplace_back(k);
      return batch.size() < batch_size;
    }));
    if (batch.empty()) return true;
    if (step.prepare) AIFS_RETURN_IF_ERROR(step.prepare(batch));
    RewrapCursor next;
    AIFS_RETURN_IF_ERROR(RunTransaction(meta, [&](MetaTxn& txn) -> Status {
      next = cursor;  // the body may run again after a conflict
      for (const std::string& key : batch) AIFS_RETURN_IF_ERROR(step.visit(txn, key, next));
      next.set_after(batch.back());
      return PutRecord(txn, std::string(keys::kRewrapCursor), next);
    }));
    cursor = std::move(next);
    committed(cursor);
  }
}

}  // namespace

Result<RewrapReport> Engine::RewrapKeys(const RewrapOptions& options,
                                        const RewrapProgress& progress) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  if (options.batch_size == 0)
    return err::InvalidArgument("BAD_BATCH_SIZE", "rewrap batch size must be at least 1");
  Kms& kms = *ctx_->kms;
  MetaStore& meta = *ctx_->meta;
  const std::string current = kms.CurrentKeyId();

  // Each namespace's target: the key its policy pins, else the current one.
  AIFS_ASSIGN_OR_RETURN(auto namespaces, ListNamespaces());
  std::map<std::string, std::string> pinned;
  for (const NamespaceInfo& n : namespaces)
    if (!n.policy.kms_key_id.empty()) pinned[n.name] = n.policy.kms_key_id;
  auto target_of = [&](const std::string& ns) -> const std::string& {
    auto it = pinned.find(ns);
    return it == pinned.end() ? current : it->second;
  };

  RewrapCursor cursor;
  bool resumed = false;
  AIFS_ASSIGN_OR_RETURN(auto saved, meta.Get(keys::kRewrapCursor));
  if (saved) {
    AIFS_RETURN_IF_ERROR(ParseRecord(*saved, cursor, "rewrap cursor"));
    resumed = cursor.target_key() == current;
  }
  if (!resumed) {
    // First run, or the key was rotated again since: start over (records
    // already moved to the new target are skipped cheaply).
    const bool compaction_due = cursor.compaction_due();  // resealed, not compacted yet
    cursor.Clear();
    cursor.set_target_key(current);
    cursor.set_started_unix_ns(NowUnixNanos());
    cursor.set_compaction_due(compaction_due);
  }

  // Signing seeds first: a handful of records, one transaction each (every
  // put commit rewrites its namespace record, so keep them short).
  if (!cursor.namespaces_done()) {
    uint64_t moved = 0;
    for (const NamespaceInfo& n : namespaces) {
      const std::string key = keys::Namespace(n.name);
      bool changed = false;
      AIFS_RETURN_IF_ERROR(RunTransaction(meta, [&](MetaTxn& txn) -> Status {
        changed = false;
        AIFS_ASSIGN_OR_RETURN(auto rec, LoadRecord<NamespaceRecord>(txn, key, "namespace"));
        if (!rec) return Status::Ok();
        if (rec->signing_kms_key_id() != target_of(n.name)) {
          AIFS_ASSIGN_OR_RETURN(
              WrappedKey w,
              kms.Rewrap(rec->signing_kms_key_id(), AsBytes(rec->signing_seed_wrapped()),
                         NamespaceKeyContext(n.name), target_of(n.name)));
          rec->set_signing_kms_key_id(w.key_id);
          rec->set_signing_seed_wrapped(w.blob.data(), w.blob.size());
          changed = true;
        }
        // The record key (metadata, vectors, index files) moves with it.
        AIFS_ASSIGN_OR_RETURN(const bool record_key,
                              ctx_->record_keys->Rewrap(*rec, target_of(n.name)));
        changed = changed || record_key;
        return changed ? PutNamespaceRecord(txn, *rec) : Status::Ok();
      }));
      moved += changed ? 1 : 0;
    }
    cursor.set_namespaces_rewrapped(cursor.namespaces_rewrapped() + moved);
    // The token root keys, so that retiring the old version cannot lock
    // every token holder out.
    AIFS_ASSIGN_OR_RETURN(uint64_t root_keys, root_keys_.RewrapAll(current));
    cursor.set_root_keys_rewrapped(cursor.root_keys_rewrapped() + root_keys);
    cursor.set_namespaces_done(true);
    AIFS_RETURN_IF_ERROR(SaveCursor(meta, cursor));
  }

  const auto committed = [&](const RewrapCursor& c) {
    if (progress) progress(ToReport(c, resumed));
  };

  // Chunk records: their data keys move to the target.
  if (!cursor.chunks_done()) {
    const uint64_t before = cursor.chunks_rewrapped();
    const BatchStep chunks{
        .prepare = nullptr,
        .visit = [&](MetaTxn& txn, const std::string& key, RewrapCursor& next) -> Status {
          std::string ns;
          Digest hash;
          if (!keys::ParseChunk(key, ns, hash))
            return err::DataLoss("METADATA_CORRUPT", "bad chunk record key " + key);
          AIFS_ASSIGN_OR_RETURN(auto rec, LoadRecord<ChunkRecord>(txn, key, "chunk"));
          if (!rec) return Status::Ok();  // reclaimed meanwhile
          next.set_chunks_scanned(next.chunks_scanned() + 1);
          if (rec->kms_key_id() == target_of(ns)) return Status::Ok();
          Status st = RewrapChunkKey(kms, ns, hash, target_of(ns), *rec);
          if (!st.ok()) return st.WithContext("chunk " + key);
          next.set_chunks_rewrapped(next.chunks_rewrapped() + 1);
          return PutRecord(txn, key, *rec);
        },
        .stop =
            [&](const RewrapCursor& c) {
              return options.max_chunks && c.chunks_rewrapped() - before >= options.max_chunks;
            }};
    AIFS_ASSIGN_OR_RETURN(const bool done,
                          Walk(meta, keys::kChunkPrefixAll, PrefixEnd(keys::kChunkPrefixAll),
                               options.batch_size, cursor, chunks, committed));
    if (!done) return ToReport(cursor, resumed);
    cursor.set_chunks_done(true);
    cursor.clear_after();
    AIFS_RETURN_IF_ERROR(SaveCursor(meta, cursor));
  }

  // Values a format-1 store wrote in clear: sealed with their namespace's
  // record key, range by range (the ranges are in key order, so one `after`
  // serves them all).
  if (!cursor.reseal_done()) {
    Resealer resealer(meta, *ctx_->record_keys);
    const uint64_t before = cursor.records_resealed() + cursor.vectors_resealed();
    const BatchStep reseal{
        .prepare = [&](const std::vector<std::string>& batch) { return resealer.Prepare(batch); },
        .visit = [&](MetaTxn& txn, const std::string& key, RewrapCursor& next) -> Status {
          AIFS_ASSIGN_OR_RETURN(const Resealer::Resealed what, resealer.Reseal(txn, key));
          if (what == Resealer::Resealed::kRecord)
            next.set_records_resealed(next.records_resealed() + 1);
          if (what == Resealer::Resealed::kVector)
            next.set_vectors_resealed(next.vectors_resealed() + 1);
          // Until the metadata is compacted, its files still hold the plaintext.
          if (what != Resealer::Resealed::kNothing) next.set_compaction_due(true);
          return Status::Ok();
        },
        .stop =
            [&](const RewrapCursor& c) {
              return options.max_resealed &&
                     c.records_resealed() + c.vectors_resealed() - before >= options.max_resealed;
            }};
    for (const std::string& prefix : Resealer::Prefixes()) {
      AIFS_ASSIGN_OR_RETURN(const bool done, Walk(meta, prefix, PrefixEnd(prefix),
                                                  options.batch_size, cursor, reseal, committed));
      if (!done) return ToReport(cursor, resumed);
    }
    cursor.set_reseal_done(true);
    AIFS_RETURN_IF_ERROR(SaveCursor(meta, cursor));
  }

  // The plaintext that was rewritten still sits in older SST and log files
  // until RocksDB compacts them: compact now, before the cursor that says it
  // is due goes away.
  RewrapReport r = ToReport(cursor, resumed);
  if (cursor.compaction_due()) {
    AIFS_RETURN_IF_ERROR(meta.Compact().WithContext(
        "compacting the metadata after resealing (a rerun of `aifs key rewrap` retries it)"));
    r.compacted = true;
  }
  AIFS_RETURN_IF_ERROR(
      RunTransaction(meta, [&](MetaTxn& txn) { return txn.Delete(keys::kRewrapCursor); }));
  r.complete = true;
  return r;
}

}  // namespace aifs
