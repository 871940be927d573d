// Retired assets: what `rm` leaves for the snapshots that hold an asset, and
// how garbage collection releases it once none does (docs/snapshots.md,
// "Snapshots keep their data").
//
// `rm` takes an asset out of the live head only: its record moves from
// as/<ns>/<id> to ra/<ns>/<id> (RetireAsset) keeping its chunk references,
// its chunk table (ci/) and its vectors (vc/); the change log gets "-" so the
// next snapshot drops it. Reads at head (ReadAsset, StatAsset, ListAssets)
// see only as/; reads through a snapshot use LoadAssetAnyState, which finds
// both. A put of the same bytes takes a retired record back
// (TakeBackRetired): the references it holds carry over, nothing is counted
// twice.
//
// Reclaimer::Run releases, per namespace, every retired asset that no
// retained snapshot holds (SnapshotManager::RetainedAmong), up to 64 per
// metadata transaction (chunk references dropped, chunk records at zero
// deleted, vectors deleted, namespace totals fixed, one event asset_released
// each), and the chunk objects are deleted only after it commits;
// a crash in between leaves orphans that the object sweep of the same or the
// next gc deletes. A rerun after a kill finds what is left in ra/ and goes
// on. No lock is held: puts, deletes, snapshots and prunes go on meanwhile.
//
// Why the reachability answer cannot be stale: a snapshot holds a retired
// asset only if it was made before the asset's retirement (afterwards the
// change log's "-", or the asset's absence from as/ for a snapshot of a given
// set, keeps it out). Run lists ra/ first and the snapshots after, so every
// snapshot that can hold a listed retirement is seen (or was pruned, which
// is what allows the release). A release commits only if the ra/ record still
// carries the retire_seq listed: a put that took the asset back and a later
// rm make a new retirement, which waits for the next run. A snapshot is
// taken in two steps (it closes its change-log generation, then builds and
// commits), and an asset retired between them is in it: a release commits
// only while no snapshot of the namespace is being built (SnapshotCursor),
// read in the release's own transaction.
//
// Thread safety: the functions run inside the caller's transaction; a
// Reclaimer may be used from several threads (each Run is independent).
#pragma once

#include <optional>
#include <span>
#include <string>

#include "aifs/api/types.h"
#include "aifs/engine/snapshots.h"
#include "aifs/engine/store_context.h"

namespace aifs {

// Moves the live record `asset` (as read in `txn`) to ra/, with the
// namespace's next retire_seq; updates the live and retired totals of
// `ns_rec` (which the caller writes). Chunk references, ci/ and vc/ stay.
Status RetireAsset(MetaTxn& txn, store::v1::NamespaceRecord& ns_rec,
                   const store::v1::AssetRecord& asset);

// When `id` is retired: deletes its ra/ record, takes it out of the retired
// totals and returns it (its chunk references now belong to the record the
// caller writes under as/, which must keep its chunk layout: KeepChunkLayout).
Result<std::optional<store::v1::AssetRecord>> TakeBackRetired(MetaTxn& txn,
                                                              store::v1::NamespaceRecord& ns_rec,
                                                              const AssetId& id);
// Gives `rec` the chunk list (inline, or the count of its ci/ table) of `from`.
void KeepChunkLayout(const store::v1::AssetRecord& from, store::v1::AssetRecord& rec);

// The live record, else the retired one (sealed fields opened unless
// `open_sealed` is false): what a read through a snapshot may name. NOT_FOUND
// ASSET_NOT_FOUND (or NAMESPACE_NOT_FOUND) when neither exists.
Result<store::v1::AssetRecord> LoadAssetAnyState(StoreContext& ctx, const std::string& ns,
                                                 const AssetId& id, bool open_sealed = true);

// Drops one reference to each distinct chunk of `asset` in `txn` (deleting
// records that reach zero, and its ci/ table); chunk totals of `ns_rec`
// follow. Objects to delete after the commit go to `objects`, their
// hashes to `hashes` (packs stay for gc's sweep); `bytes` adds their stored
// size.
Status ReleaseChunks(MetaTxn& txn, store::v1::NamespaceRecord& ns_rec,
                     const store::v1::AssetRecord& asset, std::vector<std::string>& objects,
                     std::vector<Digest>& hashes, uint64_t& bytes);

// Deletes the asset's vectors held in quarantine (vq/) and, with
// `searchable_too`, its searchable ones (vc/), in every space of `ns`.
Status DeleteVectors(MetaStore& meta, MetaTxn& txn, const std::string& ns, const AssetId& id,
                     bool searchable_too);

class Reclaimer {
 public:
  Reclaimer(StoreContext& ctx, SnapshotManager& snapshots) : ctx_(ctx), snapshots_(snapshots) {}

  // Releases (dry run: counts) the retired assets of every namespace that no
  // retained snapshot holds; adds to the assets_/chunks_/bytes_released and
  // assets_retained fields of `report`.
  Status Run(bool dry_run, GcReport& report);
  // The same for one namespace.
  Status RunNamespace(const std::string& ns, bool dry_run, GcReport& report);
  // Releases the asset retired with `retired_seq` at once when no retained
  // snapshot holds it (what `rm` does right after retiring: an asset no
  // snapshot ever saw frees its space as before).
  Status ReleaseIfUnheld(const std::string& ns, const AssetId& id, uint64_t retired_seq);

 private:
  struct Retirement {
    AssetId id;
    uint64_t seq = 0;  // the record's retired_seq when it was listed
  };
  // Released assets per transaction: one fsync for many, and far fewer
  // commits for puts to race with on the namespace record.
  static constexpr size_t kReleaseBatch = 64;
  // One release transaction for `batch`; an asset whose record changed
  // since it was listed (taken back, or retired again) is left to the next
  // run.
  Status Release(const std::string& ns, std::span<const Retirement> batch, GcReport& report);

  StoreContext& ctx_;
  SnapshotManager& snapshots_;
};

}  // namespace aifs
