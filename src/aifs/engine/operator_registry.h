// The stored side of ingest operators (docs/operators.md): their records, how
// far each got, and their dead-letter lists, all in the MetaStore so every
// server sharing the store sees the same operators. The runner
// (engine/operator_runner.h) does the work; these functions keep the books.
//
// Every function is thread-safe (each is one or a few MetaStore
// transactions); errors are the store's, plus those named below.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "aifs/api/operator_spec.h"
#include "aifs/meta/meta_store.h"
#include "aifs/store/v1/records.pb.h"

namespace aifs {

// An operator's record and progress, as stored.
struct StoredOperator {
  store::v1::OperatorRecord rec;
  store::v1::OperatorProgress progress;
  // The 16 hex digits of rec.generation(): the key part of its per-input records.
  std::string generation() const;
};

// Which assets an operator runs on (OperatorSpec::match, parsed).
struct OperatorMatch {
  std::optional<AssetKind> kind;
  std::vector<MetaFilter> filters;
  // Metadata key set on every asset an operator makes: such assets are
  // never an operator's input (no loops, no operator feeding on another).
  static constexpr std::string_view kMadeByKey = "aifs.operator";
  bool Matches(const AssetInfo& asset) const;
};
// INVALID_ARGUMENT BAD_OPERATOR_MATCH naming the term that does not parse.
Result<OperatorMatch> ParseOperatorMatch(std::string_view text);

// INVALID_ARGUMENT BAD_OPERATOR_NAME unless [a-z0-9][a-z0-9._-]{0,63}.
Status ValidateOperatorName(std::string_view name);

// Stores a new operator (a fresh generation; progress at the log's current
// end, backfilling the live assets first when spec.backfill). Checks the
// name, the match and (by building it) the kind and its parameters.
// NOT_FOUND NAMESPACE_NOT_FOUND, ALREADY_EXISTS OPERATOR_EXISTS.
Result<StoredOperator> AddOperatorRecord(MetaStore& meta, const OperatorSpec& spec,
                                         const std::string& who);
// NOT_FOUND OPERATOR_NOT_FOUND.
Result<StoredOperator> LoadOperator(MetaStore& meta, const std::string& ns,
                                    const std::string& name);
// The same through a transaction (joining its conflict check).
Result<StoredOperator> LoadOperator(MetaTxn& txn, const std::string& ns, const std::string& name);
// Every operator of `ns` ("": of every namespace), by namespace and name.
Result<std::vector<StoredOperator>> LoadOperators(MetaStore& meta, const std::string& ns);
// Deletes the record and progress in one transaction, then (best effort)
// the per-input records of its generation. NOT_FOUND OPERATOR_NOT_FOUND.
Status RemoveOperatorRecord(MetaStore& meta, const std::string& ns, const std::string& name);
Result<StoredOperator> SetOperatorPaused(MetaStore& meta, const std::string& ns,
                                         const std::string& name, bool paused);
// The dead-letter list of the current generation, at most `limit`.
Result<std::vector<OperatorFailure>> LoadOperatorFailures(MetaStore& meta, const std::string& ns,
                                                          const std::string& name, size_t limit);
// Moves failures (`ids` empty: all) off the list, into the retry queue when
// `retry`; returns how many. NOT_FOUND OPERATOR_FAILURE_NOT_FOUND for an ID
// that is not on the list.
Result<uint64_t> ResolveOperatorFailures(MetaStore& meta, const std::string& ns,
                                         const std::string& name, const std::vector<AssetId>& ids,
                                         bool retry);

// The Api's view (state fields left for the runner to fill).
OperatorInfo ToOperatorInfo(const StoredOperator& op);
OperatorSpec SpecOf(const store::v1::OperatorRecord& rec);

}  // namespace aifs
