// The free-space reserve: a full disk is an ordinary error, never a crash.
//
// Writes that make the store grow stop while a backend that can tell has less
// free than the reserve (StoreConfig.space_reserve_bytes, or 2% of its disk,
// 8-256 MiB); deletes, which write a little metadata to free space, go on
// down to 64 KiB; the garbage collector only removes objects and needs none. So RocksDB keeps room to flush and compact even when something else
// fills the disk, and a store that filled up can always be emptied.
#pragma once

#include "aifs/engine/store_context.h"

namespace aifs {

enum class SpaceUse {
  kGrows,  // puts, snapshots, namespaces, refs: may not touch the reserve
  kFrees,  // deletes: may use the reserve down to 64 KiB
  kNone,   // object removal only (gc)
};

// The reserve kept on a disk of `total` bytes under `config`.
uint64_t SpaceReserve(const store::v1::StoreConfig& config, uint64_t total);

// RESOURCE_EXHAUSTED STORAGE_FULL naming the backend and its free space when
// `use` may not go on; OK when it may (or no backend can tell).
Status CheckSpace(const StoreContext& ctx, SpaceUse use);

}  // namespace aifs
