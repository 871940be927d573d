// Ingest operators (docs/operators.md): work that runs after commit on every
// new asset of a namespace that matches, whose results are assets with
// lineage back to their source. Plain value types for Api::AddOperator and
// friends; the rules are in engine/operator_runner.h, the kinds in
// ingest/operator_kind.h.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "aifs/api/types.h"

namespace aifs {

// What an operator is. Stored in the MetaStore, so every server sharing the
// store runs it (one at a time).
struct OperatorSpec {
  std::string ns = "default";
  std::string name;  // [a-z0-9][a-z0-9._-]{0,63}
  // "http-embed", "exec", "tensor-stats", "sniff" (ingest/operator_kind.h).
  std::string kind;
  // Which committed assets it runs on: comma-separated terms, all must hold:
  // `kind=blob` (the asset kind), `KEY=VALUE`, `KEY^=PREFIX`, `KEY` (the
  // metadata key is set). Empty: every asset. Assets that operators made
  // (metadata `aifs.operator`) are never inputs.
  std::string match;
  // The kind's settings (docs/operators.md lists each kind's), e.g. url,
  // model, space, batch, timeout_ms, argv, chunk_bytes. `version` (default
  // "1") goes into the lineage transform: change it with the model.
  std::map<std::string, std::string> params;
  // Also run over the assets live when the operator is added.
  bool backfill = false;
  std::string who;  // a claimed audit name (a server's caller replaces it)
};

// An operator and how far it got.
struct OperatorInfo {
  OperatorSpec spec;
  bool paused = false;
  int64_t created_unix_ns = 0;
  std::string who;           // who added it
  uint64_t cursor = 0;       // event log position processed up to
  uint64_t log_head = 0;     // the log's position when asked
  bool backfilling = false;  // still going through the assets live when added
  uint64_t processed = 0;    // inputs done (results committed)
  uint64_t produced = 0;     // assets it made
  uint64_t failed = 0;       // inputs on the dead-letter list now
  uint64_t retries = 0;      // calls tried again (this server, since it started)
  // "running", "idle" (caught up), "paused", "backing-off", "not-running"
  // (no server runs operators), "elsewhere" (another server holds it).
  std::string state;
  std::string last_error;  // the latest failure's reason and message
};

// An input the operator gave up on after its retries: on the dead-letter
// list until retried or skipped.
struct OperatorFailure {
  AssetId asset;
  uint32_t attempts = 0;
  std::string reason;   // stable: EMBEDDER_BAD_RESPONSE, EXEC_FAILED, ...
  std::string message;  // the last attempt's words
  int64_t unix_ns = 0;
};

}  // namespace aifs
