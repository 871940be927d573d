// Upgrading data written by older formats to the current one (format 3), in
// place, online, crash-safely and resumably (`aifs upgrade`):
//
// - chunks sealed whole (formats 1-2) are opened (BLAKE3 checked), sealed
//   again in segments under a fresh data key (wrapped by the same KMS key
//   version as before: moving keys is `aifs key rewrap`'s job) into a new
//   object, made durable, and switched to in one metadata transaction per
//   batch that also keeps the namespace's stored-byte total exact; the old
//   objects are deleted after the commit.
// - asset records that list their chunks inline get their `ci/` table.
//
// A crash leaves every record either old or new; objects of an unfinished
// batch are orphans that `aifs gc` reclaims. A rerun finds what is left (the
// old-format records themselves are the cursor). Reads go on meanwhile: a
// reader that loaded an old record and loses its object to a finished batch
// fails with CHUNK_MISSING at worst and reads again.
#pragma once

#include <functional>

#include "aifs/core/status.h"
#include "aifs/engine/store_context.h"

namespace aifs {

struct UpgradeOptions {
  uint32_t batch_size = 64;  // chunks (or asset records) per transaction
  uint64_t max_chunks = 0;   // stop (resumably) after rewriting this many; 0: no limit
};

struct UpgradeReport {
  uint64_t chunks_scanned = 0;
  uint64_t chunks_rewritten = 0;  // sealed whole -> segments
  uint64_t bytes_rewritten = 0;   // plaintext bytes of those chunks
  uint64_t assets_scanned = 0;
  uint64_t asset_tables_written = 0;  // inline chunk lists moved to ci/
  bool complete = false;              // nothing of an older format is left
};
using UpgradeProgress = std::function<void(const UpgradeReport&)>;

// ctx must be writable. Errors stop the run (what was committed stays).
Result<UpgradeReport> UpgradeStore(StoreContext& ctx, const UpgradeOptions& options,
                                   const UpgradeProgress& progress);

}  // namespace aifs
