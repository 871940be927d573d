// Engine::RewrapKeys: moves wrapped data keys (chunks', namespaces'
// snapshot-signing seeds and record keys, token root keys) to their target
// KMS key version.
//
// Crash safety: a chunk record is rewritten only in a metadata transaction
// that also advances the cursor (kr/rewrap), so after a crash every record is
// either wholly old (old key ID + old blob) or wholly new, and the cursor
// never claims more than was committed. The chunk objects are never written:
// the data key does not change, only its wrapping. A rerun resumes after the
// cursor; a record already on its target is left alone, so any overlap is
// harmless.
#include <map>

#include "aifs/auth/root_keys.h"
#include "aifs/core/clock.h"
#include "aifs/core/hex.h"
#include "aifs/engine/engine.h"
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
  return r;
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
    cursor.Clear();
    cursor.set_target_key(current);
    cursor.set_started_unix_ns(NowUnixNanos());
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
        return changed ? PutRecord(txn, key, *rec) : Status::Ok();
      }));
      moved += changed ? 1 : 0;
    }
    cursor.set_namespaces_rewrapped(cursor.namespaces_rewrapped() + moved);
    // The token root keys, so that retiring the old version cannot lock
    // every token holder out.
    AIFS_ASSIGN_OR_RETURN(uint64_t root_keys, root_keys_.RewrapAll(current));
    cursor.set_root_keys_rewrapped(cursor.root_keys_rewrapped() + root_keys);
    cursor.set_namespaces_done(true);
    AIFS_RETURN_IF_ERROR(RunTransaction(meta, [&](MetaTxn& txn) {
      return PutRecord(txn, std::string(keys::kRewrapCursor), cursor);
    }));
  }

  const std::string end = PrefixEnd(keys::kChunkPrefixAll);
  uint64_t rewrapped_this_run = 0;
  for (;;) {
    if (options.max_chunks && rewrapped_this_run >= options.max_chunks) {
      RewrapReport r = ToReport(cursor, resumed);
      return r;  // stopped early; the cursor says where to go on
    }
    // The next batch of record keys after the cursor (values are re-read in
    // the transaction, which is what the conflict check guards).
    std::vector<std::string> batch;
    const std::string begin =
        cursor.after().empty() ? std::string(keys::kChunkPrefixAll) : cursor.after() + '\0';
    AIFS_RETURN_IF_ERROR(meta.Scan(begin, end, [&](std::string_view k, std::string_view) {
      batch.emplace_back(k);
      return batch.size() < options.batch_size;
    }));
    if (batch.empty()) break;

    RewrapCursor next;
    AIFS_RETURN_IF_ERROR(RunTransaction(meta, [&](MetaTxn& txn) -> Status {
      next = cursor;  // the body may run again after a conflict
      for (const std::string& key : batch) {
        std::string ns;
        Digest hash;
        if (!keys::ParseChunk(key, ns, hash))
          return err::DataLoss("METADATA_CORRUPT", "bad chunk record key " + key);
        AIFS_ASSIGN_OR_RETURN(auto rec, LoadRecord<ChunkRecord>(txn, key, "chunk"));
        if (!rec) continue;  // reclaimed meanwhile
        next.set_chunks_scanned(next.chunks_scanned() + 1);
        if (rec->kms_key_id() == target_of(ns)) continue;
        Status st = RewrapChunkKey(kms, ns, hash, target_of(ns), *rec);
        if (!st.ok()) return st.WithContext("chunk " + key);
        AIFS_RETURN_IF_ERROR(PutRecord(txn, key, *rec));
        next.set_chunks_rewrapped(next.chunks_rewrapped() + 1);
      }
      next.set_after(batch.back());
      return PutRecord(txn, std::string(keys::kRewrapCursor), next);
    }));
    rewrapped_this_run += next.chunks_rewrapped() - cursor.chunks_rewrapped();
    cursor = std::move(next);
    if (progress) progress(ToReport(cursor, resumed));
  }

  AIFS_RETURN_IF_ERROR(RunTransaction(meta, [&](MetaTxn& txn) {
    return txn.Delete(keys::kRewrapCursor);
  }));
  RewrapReport r = ToReport(cursor, resumed);
  r.complete = true;
  return r;
}

}  // namespace aifs
