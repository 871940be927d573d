#include "aifs/engine/privacy_ledger.h"

#include <functional>
#include <optional>

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

uint64_t Left(uint64_t total, uint64_t spent) { return spent >= total ? 0 : total - spent; }

// What a refusal names: epsilon, and delta where the budget has one or the
// query asks for it.
struct Budget {
  uint64_t epsilon_micros = 0;
  std::optional<uint64_t> delta_picos;
  std::string Text() const {
    std::string out = "epsilon " + privacy::FormatEpsilon(epsilon_micros);
    if (delta_picos) out += ", delta " + privacy::FormatDelta(*delta_picos);
    return out;
  }
};

Status Exhausted(const std::string& whose, const Budget& left, const Budget& asked) {
  return Status(Code::kResourceExhausted, "PRIVACY_BUDGET_EXHAUSTED",
                whose + " has " + left.Text() + " left; the query asks " + asked.Text());
}

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
  if (d.policy.max_query_delta_picos > 0 && d.delta_picos > d.policy.max_query_delta_picos)
    return err::InvalidArgument("DELTA_TOO_LARGE",
                                "a query may spend at most delta " +
                                    privacy::FormatDelta(d.policy.max_query_delta_picos) +
                                    " in namespace '" + d.ns + "'");
  AIFS_ASSIGN_OR_RETURN(PrivacyAccount ns, LoadAccount(get, keys::PrivacySpent(d.ns)));
  // Basic composition of (epsilon, delta): both sums stay within the totals.
  const bool show_delta = d.policy.total_delta_picos > 0 || d.delta_picos > 0;
  const Budget left{Left(d.policy.total_epsilon_micros, ns.spent_micros()),
                    show_delta
                        ? std::optional(Left(d.policy.total_delta_picos, ns.spent_delta_picos()))
                        : std::nullopt};
  const Budget asked{d.epsilon_micros, show_delta ? std::optional(d.delta_picos) : std::nullopt};
  if (d.epsilon_micros > left.epsilon_micros || d.delta_picos > left.delta_picos.value_or(0))
    return Exhausted("namespace '" + d.ns + "'", left, asked);
  for (const PrivacySpender::Cap& cap : d.spender.caps) {
    AIFS_ASSIGN_OR_RETURN(PrivacyAccount acc, LoadAccount(get, keys::PrivacyCap(cap.account)));
    const uint64_t cap_left = Left(cap.epsilon_micros, acc.spent_micros());
    if (d.epsilon_micros > cap_left)
      return Exhausted(
          "this token (dp_epsilon <= " + privacy::FormatEpsilon(cap.epsilon_micros) + ")",
          Budget{cap_left}, Budget{d.epsilon_micros});
  }
  return ns;
}

Status Add(MetaTxn& txn, const std::string& key, PrivacyAccount account, uint64_t micros,
           uint64_t delta_picos) {
  account.set_spent_micros(account.spent_micros() + micros);
  if (delta_picos > 0) account.set_spent_delta_picos(account.spent_delta_picos() + delta_picos);
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
      AIFS_RETURN_IF_ERROR(Add(txn, key, acc, d.epsilon_micros, d.delta_picos));
    }
    const std::string caller_key = keys::PrivacyCaller(d.ns, caller);
    AIFS_ASSIGN_OR_RETURN(PrivacyAccount mine, LoadAccount(get, caller_key));
    AIFS_RETURN_IF_ERROR(Add(txn, caller_key, mine, d.epsilon_micros, d.delta_picos));
    AIFS_RETURN_IF_ERROR(Add(txn, keys::PrivacySpent(d.ns), ns, d.epsilon_micros, d.delta_picos));

    store::v1::PrivacyCharge charge;
    receipt.seq = ns.queries() + 1;
    receipt.remaining_micros =
        Left(d.policy.total_epsilon_micros, ns.spent_micros() + d.epsilon_micros);
    receipt.remaining_delta_picos =
        Left(d.policy.total_delta_picos, ns.spent_delta_picos() + d.delta_picos);
    charge.set_seq(receipt.seq);
    charge.set_unix_ns(NowUnixNanos());
    charge.set_who(d.who);
    charge.set_caller(caller);
    charge.set_query(d.query);
    charge.set_epsilon_micros(d.epsilon_micros);
    if (d.delta_picos > 0) charge.set_delta_picos(d.delta_picos);
    charge.set_mechanism(d.mechanism);
    AIFS_RETURN_IF_ERROR(PutRecord(txn, keys::PrivacyCharge(d.ns, receipt.seq), charge));
    EmitEvent(txn,
              {.type = EventType::kPrivacyBudgetSpent,
               .unix_ns = charge.unix_ns(),
               .ns = d.ns,
               .name = d.query + " epsilon=" + privacy::FormatEpsilon(d.epsilon_micros) +
                       (d.delta_picos > 0 ? " delta=" + privacy::FormatDelta(d.delta_picos) : ""),
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
  view.spent_delta_picos = account.spent_delta_picos();
  view.remaining_delta_picos = Left(policy.total_delta_picos, account.spent_delta_picos());
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
                                                          .delta_picos = c.delta_picos(),
                                                          .mechanism = c.mechanism()});
                                    return true;
                                  }));
  AIFS_RETURN_IF_ERROR(parse);
  std::reverse(view.charges.begin(), view.charges.end());
  return view;
}

}  // namespace aifs
