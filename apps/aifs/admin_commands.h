// Commands that serve, watch and administer a store: `aifs serve`, `events`,
// `health`, `format`, `ns policy`, `snapshot prune`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "aifs/api/api.h"
#include "aifs/server/server.h"
#include "commands.h"
#include "query_commands.h"

namespace aifs::cli {

// Blocks SIGINT and SIGTERM in the calling thread (and every thread started
// after), so Serve() can wait for them; call before the engine starts threads.
void BlockStopSignals();

// Serves `api` until SIGINT/SIGTERM, then shuts down gracefully: in-flight
// calls get `grace_ms` to finish, unfinished puts commit nothing.
Status Serve(Gate& gate, const Output& out, server::ServerOptions options, int grace_ms);

struct EventsArgs {
  std::string ns;
  std::vector<std::string> types;
  uint64_t after = 0;
  bool follow = false;
  uint64_t limit = 0;  // stop after this many events (0: no limit)
};
Status Events(Api& api, const Output& out, const EventsArgs& args);

Status Health(Api& api, const Output& out);

// Changes only the limits given; the rest of the policy stays.
struct PolicyArgs {
  std::string ns;
  std::optional<uint64_t> max_bytes, max_assets;
  std::optional<int> zstd_level;  // -1: back to the store's default
  std::optional<uint32_t> keep_snapshots;
  std::optional<int64_t> keep_seconds;
  std::optional<uint32_t> keep_daily, keep_weekly, keep_monthly;
  std::optional<std::string> kms_key;  // "" goes back to the current key
  std::optional<bool> quarantine_embeddings;
  std::optional<uint64_t> segment_size;  // 0: back to the store's
  PrivacyArgs privacy;
};
Status NsPolicy(Api& api, const Output& out, const PolicyArgs& args);
// Prints each step as it finishes; with `history`, the audit log instead.
Status Format(Api& api, const Output& out, const FormatOptions& options, bool history);
Status SnapshotPrune(Api& api, const Output& out, const std::string& ns,
                     const PruneOptions& options);

}  // namespace aifs::cli
