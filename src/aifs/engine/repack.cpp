#include "aifs/engine/repack.h"

#include <algorithm>
#include <map>
#include <span>
#include <unordered_set>
#include <vector>

#include "aifs/engine/chunk_objects.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"

namespace aifs {

using store::v1::ChunkRecord;

void PackCensus::Add(const ChunkRecord& rec) {
  if (InPack(rec)) live_[rec.object()] += rec.stored_size();
}

namespace {

// Records moved per metadata transaction.
constexpr size_t kMovesPerCommit = 4096;
// Dead bytes left inside packs after a run, at most, in percent of all pack
// bytes (restic's prune leaves 5% unused by default, too): rewriting packs
// that are nearly all live would copy much to free little.
constexpr uint64_t kMaxDeadPercent = 5;

struct Move {
  std::string key;  // ch/<ns>/<hash>
  std::string from;
  uint64_t from_offset = 0;
  ChunkRecord to;  // the record as read, then pointed at its new place
};

// Points the records of `moves` at their new places, those that still point
// where they were read.
Status CommitMoves(StoreContext& ctx, std::span<const Move> moves) {
  std::vector<std::string> written;  // CheckHeld reads each lease once
  for (const Move& m : moves) written.push_back(m.to.object());
  return RunTransaction(*ctx.meta, [&](MetaTxn& txn) -> Status {
    AIFS_RETURN_IF_ERROR(ctx.lease->CheckHeld(txn, written));
    for (const Move& m : moves) {
      AIFS_ASSIGN_OR_RETURN(auto cur, LoadRecord<ChunkRecord>(txn, m.key, "chunk"));
      if (!cur || !InPack(*cur) || cur->object() != m.from || cur->pack_offset() != m.from_offset)
        continue;  // released, or moved by another gc
      cur->set_object(m.to.object());
      cur->set_pack_offset(m.to.pack_offset());
      AIFS_RETURN_IF_ERROR(PutRecord(txn, m.key, *cur));
    }
    return Status::Ok();
  });
}

// Copies the chunks of `moves` (one namespace's) into new packs and moves
// their records there.
Status Rewrite(StoreContext& ctx, std::vector<Move>& moves) {
  std::sort(moves.begin(), moves.end(), [](const Move& a, const Move& b) {
    return std::tie(a.from, a.from_offset) < std::tie(b.from, b.from_offset);
  });
  PackWriter packs(ctx);  // discards the new packs unless released
  std::vector<Move> copied;
  for (Move& m : moves) {
    Bytes sealed;
    Status st = ctx.chunks->GetRange(m.from, m.from_offset, m.to.stored_size(), sealed);
    if (st.code() == Code::kNotFound) continue;  // another gc finished this pack
    AIFS_RETURN_IF_ERROR(st.WithContext("repacking chunk " + m.key));
    AIFS_RETURN_IF_ERROR(packs.Add(sealed, m.to));
    copied.push_back(std::move(m));
  }
  AIFS_RETURN_IF_ERROR(packs.Flush());
  AIFS_RETURN_IF_ERROR(ctx.chunks->Sync());
  Status st;
  size_t committed = 0;
  while (st.ok() && committed < copied.size()) {
    const size_t n = std::min(kMovesPerCommit, copied.size() - committed);
    st = CommitMoves(ctx, std::span(copied).subspan(committed, n));
    if (st.ok()) committed += n;
  }
  // Records committed into the new packs keep them: after a failure the
  // next gc sweeps or rewrites what is left.
  if (committed > 0) packs.Release();
  return st;
}

}  // namespace

Status RepackSparse(StoreContext& ctx, const PackCensus& census,
                    const std::unordered_map<std::string, uint64_t>& sizes, bool dry_run,
                    GcReport& report) {
  // Mostly dead packs, then the deadest others until at most kMaxDeadShare
  // of all pack bytes is dead.
  struct Candidate {
    std::string pack;
    uint64_t size, dead;
  };
  std::vector<Candidate> candidates;
  uint64_t total = 0, dead = 0;
  for (const auto& [pack, live] : census.live_bytes()) {
    const auto size = sizes.find(pack);
    if (size == sizes.end()) continue;  // written after the listing
    total += size->second;
    if (live >= size->second) continue;
    candidates.push_back({pack, size->second, size->second - live});
    dead += size->second - live;
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return a.dead * b.size > b.dead * a.size;  // a larger dead share first
  });
  std::unordered_set<std::string> sparse;
  for (const Candidate& c : candidates) {
    if (2 * c.dead < c.size && dead <= total / 100 * kMaxDeadPercent) break;
    sparse.insert(c.pack);
    dead -= c.dead;
    ++report.packs_rewritten;
    report.pack_bytes_freed += c.dead;
  }
  if (sparse.empty() || dry_run) return Status::Ok();
  // Their live chunks, by namespace (a pack holds one namespace's chunks).
  std::map<std::string, std::vector<Move>> by_ns;
  Status parse;
  AIFS_RETURN_IF_ERROR(ctx.meta->Scan(
      keys::kChunkPrefixAll, PrefixEnd(keys::kChunkPrefixAll),
      [&](std::string_view key, std::string_view value) {
        ChunkRecord rec;
        parse = ParseRecord(value, rec, "chunk");
        if (!parse.ok()) return false;
        if (!InPack(rec) || !sparse.count(rec.object())) return true;
        std::string ns;
        Digest hash;
        if (!keys::ParseChunk(key, ns, hash)) {
          parse = err::DataLoss("METADATA_CORRUPT", "bad chunk record key " + std::string(key));
          return false;
        }
        by_ns[ns].push_back(Move{std::string(key), rec.object(), rec.pack_offset(), rec});
        return true;
      }));
  AIFS_RETURN_IF_ERROR(parse);
  for (auto& [ns, moves] : by_ns) AIFS_RETURN_IF_ERROR(Rewrite(ctx, moves));
  // Every record that pointed into them points elsewhere now.
  for (const std::string& pack : sparse) (void)ctx.chunks->Delete(pack);
  return Status::Ok();
}

}  // namespace aifs
