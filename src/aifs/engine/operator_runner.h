// OperatorRunner: runs a store's ingest operators (docs/operators.md).
//
// Each operator is driven by the durable event log from a cursor kept in its
// progress record (operator_registry.h). A pass takes the next inputs (the
// retry queue first, then the backfill over the assets live when it was
// added, then committed assets from the log), skips those it does not match
// or has done, reads their bytes, hands them to the operator's kind
// (ingest/operator_kind.h) and commits, in ONE metadata transaction, the
// assets it made (Embed assets indexed into the kind's space, a JSON record
// asset carrying extracted metadata; lineage parent: the source, transform
// "operator:<name>", digest the kind's description), the done-markers, the
// dead-letter entries, the new cursor and the operator_completed /
// operator_failed events. A crash before that commit loses only the work in
// flight, which runs again: at-least-once, and a result found done (by its
// source's marker, or by the content ID of what it makes) is never made twice.
//
// Faults: an input's own error is tried twice more alone (growing pauses),
// then dead-lettered with its reason; an error of the whole call (embedder
// down, slow, misbehaving) backs the operator off (up to 30 s between
// tries) without advancing or dead-lettering anything. Puts never wait for
// operators.
//
// Each operator runs in one thread of its own, under the store-wide lock
// "operator/<ns>/<name>" (MetaStore::Lock), so among servers sharing a store
// one at a time runs it. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "aifs/api/api.h"
#include "aifs/engine/operator_registry.h"
#include "aifs/engine/store_context.h"
#include "aifs/engine/transaction.h"

namespace aifs {

class OperatorRunner {
 public:
  // `api`: the engine, unrestricted (reads inputs, creates spaces);
  // `begin`: a transaction of the engine in a namespace.
  using BeginFn = std::function<Result<std::unique_ptr<EngineTransaction>>(const std::string& ns)>;
  OperatorRunner(StoreContext& ctx, Api& api, BeginFn begin);
  ~OperatorRunner();  // stops every thread (work in flight is dropped, not half-committed)

  // From now on, runs every operator of the store (looking for added and
  // removed ones every second, and at once after Notify).
  void Start();
  bool started() const { return started_.load(); }
  // An operator was added, removed, paused or resumed here.
  void Notify();

  // The Api's view of a stored operator: its record and progress, and what
  // only the running side knows (state, retries, last error, the log head).
  OperatorInfo Info(const StoredOperator& op) const;

  // Api::DrainOperator.
  Result<OperatorInfo> Drain(const std::string& ns, const std::string& name,
                             std::chrono::milliseconds timeout);

 private:
  class Worker;
  using Key = std::pair<std::string, std::string>;  // (ns, name)

  void Supervise();
  // Starts workers for new operators, stops those of removed ones.
  void Reconcile();

  StoreContext& ctx_;
  Api& api_;
  const BeginFn begin_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool notified_ = false;
  std::map<Key, std::unique_ptr<Worker>> workers_;  // under mu_
  std::thread supervisor_;
};

// `text` as operator `name` of `ns` embeds its inputs: one vector (a text
// longer than the operator's passages is INVALID_ARGUMENT QUERY_TOO_LONG),
// and `space` gets the operator's space name. NOT_FOUND OPERATOR_NOT_FOUND;
// INVALID_ARGUMENT OPERATOR_MAKES_NO_VECTORS for a kind without a space; the
// kind's own errors (EMBEDDER_UNAVAILABLE, NOT_TEXT ...) as they come.
Result<std::vector<float>> EmbedWithOperator(MetaStore& meta, const std::string& ns,
                                             const std::string& name, const std::string& text,
                                             std::string& space);

}  // namespace aifs
