// Getting a store back: restoring a backup into a new data directory, and
// salvaging a store whose metadata was damaged. Both work on a data directory
// no process has open (embedded only), like Engine::Init.
#pragma once

#include <string>
#include <vector>

#include "aifs/core/status.h"

namespace aifs {

struct RestoreOptions {
  std::string backup_dir;  // written by Api::Backup
  std::string data_dir;    // new: must not hold a store
  // The chunk objects to restore with (a chunk directory, e.g. the old
  // store's DATA/chunks): hard-linked where the file system allows, copied
  // otherwise. Empty: none (assets stay unreadable until they are copied).
  std::string chunks_dir;
};

struct RestoreReport {
  uint64_t sequence = 0;  // metadata sequence the backup holds
  uint64_t meta_files = 0;
  uint64_t chunk_objects = 0;
  uint64_t chunk_objects_linked = 0;  // of those, hard links (no copy)
  bool keys_included = false;
};

// ALREADY_EXISTS STORE_ALREADY_INITIALIZED when data_dir holds a store;
// INVALID_ARGUMENT BACKUP_INVALID when backup_dir is not a backup.
Result<RestoreReport> RestoreBackup(const RestoreOptions& options);

struct RecoverOptions {
  std::string data_dir;
  bool dry_run = false;  // salvage a scratch copy and report; change nothing
};

// What `aifs recover` found and did.
struct RecoverReport {
  bool dry_run = false;
  bool damaged = false;              // the metadata refused a normal open
  std::string damage;                // why it refused
  std::string saved_copy;            // where the damaged metadata was kept
  std::vector<std::string> skipped;  // what the salvage left out (RocksDB's words)
  uint64_t sequence = 0;             // the salvaged history's last write
  // The consistency pass over what is left:
  uint64_t assets = 0;
  uint64_t chunk_records = 0;
  uint64_t refcounts_fixed = 0;
  uint64_t child_counts_fixed = 0;
  uint64_t namespaces_fixed = 0;
  std::vector<std::string> lost_assets;  // "<ns>/<id>: why", data unreadable
  uint64_t assets_rebuilt = 0;           // from chunk records no asset referenced any more
  std::vector<std::string> rebuilt;      // "<ns>/<id>" of each
  uint64_t orphan_objects = 0;           // objects with no record (no key left to read them)
  uint64_t orphan_bytes = 0;
  std::string lost_found;  // where they were moved (never deleted)
};

// Salvages a store whose metadata is damaged, or checks and repairs a sound
// one: keeps a copy of the damaged metadata beside it (meta.damaged-<time>),
// reopens it keeping every intact committed write, then recounts chunk
// references, child counts and namespace totals from the asset records,
// re-creates as assets (metadata aifs.recovered=<time>) the chunks whose
// asset records were lost, and moves objects nothing can read any more to
// DATA/lost+found/<time>/. Never deletes data. Errors: those of opening the
// store's backends (other than METADATA_CORRUPT); UNIMPLEMENTED for a
// metadata backend other than RocksDB.
Result<RecoverReport> RecoverStore(const RecoverOptions& options);

}  // namespace aifs
