// Engine: aggregate queries and the privacy ledger (docs/privacy.md).
#include "aifs/engine/aggregate.h"
#include "aifs/engine/engine.h"
#include "aifs/engine/privacy_ledger.h"
#include "aifs/privacy/random_bits.h"

namespace aifs {

Result<AggregateAnswer> Engine::Aggregate(const AggregateQuery& query) {
  AIFS_ASSIGN_OR_RETURN(NamespaceInfo ns, GetNamespace(query.ns));
  const PrivacyPolicy& policy = ns.policy.privacy;
  AIFS_ASSIGN_OR_RETURN(Aggregation agg, Aggregation::Plan(query, policy));
  PrivacyLedger ledger(*ctx_->meta);
  const PrivacyDebit debit{
      .ns = query.ns,
      .policy = policy,
      .spender = query.spender.key.empty()
                     ? PrivacySpender{.key = "local", .caps = query.spender.caps}
                     : query.spender,
      .who = query.who.empty() ? "local" : query.who,
      .epsilon_micros = agg.epsilon_micros(),
      .delta_picos = agg.delta_picos(),
      .query = agg.Describe(),
      .mechanism = agg.Mechanism()};
  // Refused before it reads anything: the ledger must be writable and hold
  // enough for the query.
  if (agg.noisy()) {
    AIFS_RETURN_IF_ERROR(RequireWritable());
    AIFS_RETURN_IF_ERROR(ledger.CheckAffordable(debit));
  }
  // The same listing (filters, kind, as_of) as ListAssets, page by page.
  ListOptions list{.ns = query.ns,
                   .limit = 1000,
                   .filters = query.filters,
                   .kind = query.asset_kind,
                   .as_of = query.as_of};
  while (true) {
    AIFS_ASSIGN_OR_RETURN(AssetPage page, ListAssets(list));
    for (const AssetInfo& asset : page.assets) AIFS_RETURN_IF_ERROR(agg.Add(asset));
    if (page.next_page_token.empty()) break;
    list.page_token = page.next_page_token;
  }
  privacy::SecureRandomBits rng;
  AIFS_ASSIGN_OR_RETURN(AggregateAnswer answer, agg.Finish(rng));
  if (!agg.noisy()) return answer;
  // Released only once its debit is committed.
  AIFS_ASSIGN_OR_RETURN(PrivacyReceipt receipt, ledger.Charge(debit));
  answer.remaining_micros = receipt.remaining_micros;
  answer.delta_picos = agg.delta_picos();
  answer.remaining_delta_picos = receipt.remaining_delta_picos;
  answer.charge_seq = receipt.seq;
  return answer;
}

Result<PrivacyLedgerView> Engine::GetPrivacyLedger(const std::string& ns, size_t limit) {
  AIFS_ASSIGN_OR_RETURN(NamespaceInfo info, GetNamespace(ns));
  return PrivacyLedger(*ctx_->meta).Read(ns, info.policy.privacy, limit == 0 ? 100 : limit);
}

}  // namespace aifs
