#include "aifs/engine/privacy_ledger.h"

#include <functional>

#include "aifs/core/blake3.h"
#include "aifs/core/clock.h"
#include "aifs/core/hex.h"
#include "aifs/engine/events.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"
#include "aifs/privacy/epsilon.h"

namespace aifs {

namespace {

using store::v1::PrivacyAccount;
using Getter = std::function<Result<std::optional<std::string>>(const std::string&)>;

Result<PrivacyAccount> LoadAccount(const Getter& get, const std::string& key) {
  PrivacyAccount account;
  AIFS_ASSIGN_OR_RETURN(auto bytes, get(key));
  if (bytes) AIFS_RETURN_IF_ERROR(ParseRecord(*bytes, account, "privacy account"));
  return account;
}

Status Exhausted(const std::string& whose, uint64_t left, uint64_t asked) {
  return Status(Code::kResourceExhausted, "PRIVACY_BUDGET_EXHAUSTED",
                whose + " has epsilon " + privacy::FormatEpsilon(left) + " left; the query asks " +
                    privacy::FormatEpsilon(asked));
}

uint64_t Left(uint64_t total, uint64_t spent) { return spent >= total ? 0 : total - spent; }

// Checks the debit against every account it touches (read through `get`);
// returns the namespace's account.
Result<PrivacyAccount> Check(const PrivacyDebit& d, const Getter& get) {
  if (d.epsilon_micros == 0)
    return err::InvalidArgument("BAD_EPSILON",
                                "a query under a privacy policy must spend epsilon > 0");
  if (d.policy.max_query_epsilon_micros > 0 && d.epsilon_micros > d.policy.max_query_epsilon_micros)
    return err::InvalidArgument("EPSILON_TOO_LARGE",
                                "a query may spend at most epsilon " +
                                    privacy::FormatEpsilon(d.policy.max_query_epsilon_micros) +
                                    " in namespace '" + d.ns + "'");
  AIFS_ASSIGN_OR_RETURN(PrivacyAccount ns, LoadAccount(get, keys::PrivacySpent(d.ns)));
  const uint64_t left = Left(d.policy.total_epsilon_micros, ns.spent_micros());
  if (d.epsilon_micros > left) return Exhausted("namespace '" + d.ns + "'", left, d.epsilon_micros);
  for (const PrivacySpender::Cap& cap : d.spender.caps) {
    AIFS_ASSIGN_OR_RETURN(PrivacyAccount acc, LoadAccount(get, keys::PrivacyCap(cap.account)));
    const uint64_t cap_left = Left(cap.epsilon_micros, acc.spent_micros());
    if (d.epsilon_micros > cap_left)
      return Exhausted(
          "this token (dp_epsilon <= " + privacy::FormatEpsilon(cap.epsilon_micros) + ")", cap_left,
          d.epsilon_micros);
  }
  return ns;
}

Status Add(MetaTxn& txn, const std::string& key, PrivacyAccount account, uint64_t micros) {
  account.set_spent_micros(account.spent_micros() + micros);
  account.set_queries(account.queries() + 1);
  return PutRecord(txn, key, account);
}

}  // namespace

std::string PrivacyLedger::CallerHash(const std::string& caller_key) {
  const Digest d = Blake3::Hash(AsBytes(caller_key));
  return HexEncode(ByteSpan(d.data(), 16));
}

Status PrivacyLedger::CheckAffordable(const PrivacyDebit& debit) {
  return Check(debit, [&](const std::string& key) { return meta_.Get(key); }).status();
}

Result<PrivacyReceipt> PrivacyLedger::Charge(const PrivacyDebit& d) {
  const std::string caller = CallerHash(d.spender.key);
  PrivacyReceipt receipt;
  AIFS_RETURN_IF_ERROR(RunTransaction(meta_, [&](MetaTxn& txn) -> Status {
    const Getter get = [&](const std::string& key) { return txn.Get(key); };
    AIFS_ASSIGN_OR_RETURN(PrivacyAccount ns, Check(d, get));
    for (const PrivacySpender::Cap& cap : d.spender.caps) {
      const std::string key = keys::PrivacyCap(cap.account);
      AIFS_ASSIGN_OR_RETURN(PrivacyAccount acc, LoadAccount(get, key));
      AIFS_RETURN_IF_ERROR(Add(txn, key, acc, d.epsilon_micros));
    }
    const std::string caller_key = keys::PrivacyCaller(d.ns, caller);
    AIFS_ASSIGN_OR_RETURN(PrivacyAccount mine, LoadAccount(get, caller_key));
    AIFS_RETURN_IF_ERROR(Add(txn, caller_key, mine, d.epsilon_micros));
    AIFS_RETURN_IF_ERROR(Add(txn, keys::PrivacySpent(d.ns), ns, d.epsilon_micros));

    store::v1::PrivacyCharge charge;
    receipt.seq = ns.queries() + 1;
    receipt.remaining_micros =
        Left(d.policy.total_epsilon_micros, ns.spent_micros() + d.epsilon_micros);
    charge.set_seq(receipt.seq);
    charge.set_unix_ns(NowUnixNanos());
    charge.set_who(d.who);
    charge.set_caller(caller);
    charge.set_query(d.query);
    charge.set_epsilon_micros(d.epsilon_micros);
    charge.set_mechanism(d.mechanism);
    AIFS_RETURN_IF_ERROR(PutRecord(txn, keys::PrivacyCharge(d.ns, receipt.seq), charge));
    EmitEvent(txn, {.type = EventType::kPrivacyBudgetSpent,
                    .unix_ns = charge.unix_ns(),
                    .ns = d.ns,
                    .name = d.query + " epsilon=" + privacy::FormatEpsilon(d.epsilon_micros),
                    .who = d.who});
    return Status::Ok();
  }));
  return receipt;
}

Result<PrivacyLedgerView> PrivacyLedger::Read(const std::string& ns, const PrivacyPolicy& policy,
                                              size_t limit) {
  PrivacyLedgerView view;
  view.policy = policy;
  AIFS_ASSIGN_OR_RETURN(
      PrivacyAccount account,
      LoadAccount([&](const std::string& key) { return meta_.Get(key); }, keys::PrivacySpent(ns)));
  view.spent_micros = account.spent_micros();
  view.queries = account.queries();
  view.remaining_micros = Left(policy.total_epsilon_micros, account.spent_micros());
  // The newest `limit` charges: their numbers are dense, 1..queries.
  const uint64_t first = account.queries() > limit ? account.queries() - limit + 1 : 1;
  const std::string prefix = keys::PrivacyChargePrefix(ns);
  Status parse;
  AIFS_RETURN_IF_ERROR(meta_.Scan(keys::PrivacyCharge(ns, first), PrefixEnd(prefix),
                                  [&](std::string_view, std::string_view value) {
                                    store::v1::PrivacyCharge c;
                                    parse = ParseRecord(value, c, "privacy charge");
                                    if (!parse.ok()) return false;
                                    view.charges.push_back(
                                        PrivacyChargeInfo{.seq = c.seq(),
                                                          .unix_ns = c.unix_ns(),
                                                          .who = c.who(),
                                                          .caller = c.caller(),
                                                          .query = c.query(),
                                                          .epsilon_micros = c.epsilon_micros(),
                                                          .mechanism = c.mechanism()});
                                    return true;
                                  }));
  AIFS_RETURN_IF_ERROR(parse);
  std::reverse(view.charges.begin(), view.charges.end());
  return view;
}

}  // namespace aifs
