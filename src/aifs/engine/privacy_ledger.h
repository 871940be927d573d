// PrivacyLedger: the differential-privacy budget of each namespace, kept in
// the MetaStore (docs/privacy.md).
//
// Promise: a query's epsilon (and delta) is debited in the same transaction
// that writes
// its charge record (who, when, which query, what it cost, which mechanism)
// and its privacy_budget_spent event, so a charge exists exactly when the
// debit does, and both survive restarts. Every debit reads and rewrites the
// namespace's account, so concurrent debits conflict and one retries (OCC):
// however many servers and clients race, the sum of the debits never
// exceeds the policy's total (of epsilon and of delta: basic composition),
// nor any token caveat's cap (epsilon only). Accounts:
// dp/<ns>/spent (the namespace), dp/<ns>/caller/<hash> (one credential
// there, for reports), dpcap/<account> (a `dp_epsilon` caveat, store-wide).
// Thread-safe; holds no state of its own.
#pragma once

#include <string>

#include "aifs/api/aggregate_query.h"
#include "aifs/meta/meta_store.h"

namespace aifs {

// One query's bill.
struct PrivacyDebit {
  std::string ns;
  PrivacyPolicy policy;  // the namespace's, read before the query ran
  PrivacySpender spender;
  std::string who;  // audit name
  uint64_t epsilon_micros = 0;
  uint64_t delta_picos = 0;  // Gaussian queries
  std::string query;         // the query as text
  std::string mechanism;     // e.g. "discrete_laplace(scale=2/1)"
};

struct PrivacyReceipt {
  uint64_t seq = 0;  // the charge record's number in the namespace
  uint64_t remaining_micros = 0;
  uint64_t remaining_delta_picos = 0;
};

class PrivacyLedger {
 public:
  explicit PrivacyLedger(MetaStore& meta) : meta_(meta) {}

  // Whether the debit fits now: INVALID_ARGUMENT BAD_EPSILON (0),
  // EPSILON_TOO_LARGE, DELTA_TOO_LARGE (over the policy's per-query maxima);
  // RESOURCE_EXHAUSTED PRIVACY_BUDGET_EXHAUSTED naming the epsilon and delta
  // the namespace, or the epsilon the token's caveat, has left. For refusing
  // a query before it runs; Charge checks again.
  Status CheckAffordable(const PrivacyDebit& debit);

  // Debits and records the query in one transaction (retrying conflicts);
  // the errors of CheckAffordable when it no longer fits, and nothing is
  // written then.
  Result<PrivacyReceipt> Charge(const PrivacyDebit& debit);

  // The namespace's account and its newest `limit` charges.
  Result<PrivacyLedgerView> Read(const std::string& ns, const PrivacyPolicy& policy, size_t limit);

  // The stable, non-secret name of a caller key in records (32 hex digits).
  static std::string CallerHash(const std::string& caller_key);

 private:
  MetaStore& meta_;
};

}  // namespace aifs
