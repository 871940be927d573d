// Commands that look after a whole store: `aifs verify`, `gc`, `key
// rotate|rewrap`, `info`, `backup`, and the embedded-only `upgrade`,
// `restore` and `recover` (the last two work on a data directory no process
// has open).
#pragma once

#include <string>
#include <vector>

#include "aifs/api/api.h"
#include "aifs/engine/engine.h"
#include "aifs/engine/recovery.h"
#include "commands.h"

namespace aifs::cli {

// Re-hashes assets (no refs: every asset of the namespace, or of all
// namespaces with `all_ns`), re-reads the metadata store and reports orphan
// objects. Fails when any asset or the metadata is damaged.
Status Verify(Api& api, const Output& out, const std::string& ns,
              const std::vector<std::string>& refs, bool all_ns);
Status Gc(Api& api, const Output& out, bool dry_run);
Status KeyRotate(Api& api, const Output& out);
Status KeyRewrap(Api& api, const Output& out, const RewrapOptions& options);
Status Info(Api& api, const Output& out);
Status Backup(Api& api, const Output& out, const std::string& dir);
Status Restore(const Output& out, const RestoreOptions& options);
Status Recover(const Output& out, const RecoverOptions& options);
// Rewrites chunks and records of older formats (embedded only).
Status Upgrade(Engine& engine, const Output& out, const UpgradeOptions& options);

}  // namespace aifs::cli
