// Repacking: how garbage collection gets back the dead bytes inside packs
// (chunk_objects.h).
//
// A pack loses chunks as their records go (assets released, a namespace
// deleted), and may hold chunks nothing ever referenced (a duplicate that
// lost a race at commit, the chunks of a put that failed inside a
// transaction that committed others). The sweep deletes a pack no chunk
// record points into. PackCensus counts, per pack, the bytes that records
// still point at; RepackSparse rewrites every pack whose live bytes are less
// than half of it, then the packs with the largest dead share until at most
// 5% of all pack bytes are dead: the live chunks' sealed bytes are copied as
// they are into new packs, made durable, the records that still point at the old places
// are moved in metadata transactions (a record released or changed
// meanwhile is left alone), and then the old packs are deleted. A reader
// that read a record before its move finds the old pack gone and follows
// the record (chunk_objects.h). A crash leaves either the new packs
// unreferenced or the old ones, and the next gc sweeps them.
//
// Thread safety: PackCensus is not thread-safe. RepackSparse runs beside
// puts, reads and deletes (of this and other processes); two runs at once
// are safe (a record moves only from where it was read) but waste work.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

#include "aifs/api/types.h"
#include "aifs/engine/store_context.h"

namespace aifs {

class PackCensus {
 public:
  // Counts a chunk record read from ch/ (records of own objects are ignored).
  void Add(const store::v1::ChunkRecord& rec);
  // Live bytes per pack object name.
  const std::unordered_map<std::string, uint64_t>& live_bytes() const { return live_; }

 private:
  std::unordered_map<std::string, uint64_t> live_;
};

// Rewrites the sparse packs among `census` (object sizes from `sizes`, a
// listing of the chunk store taken before the census). Adds to
// packs_rewritten and pack_bytes_freed of `report` (in a dry run: what it
// would do). Errors: those of the chunk store and the MetaStore; a failure
// leaves every record where it was or already moved, never lost.
Status RepackSparse(StoreContext& ctx, const PackCensus& census,
                    const std::unordered_map<std::string, uint64_t>& sizes, bool dry_run,
                    GcReport& report);

}  // namespace aifs
