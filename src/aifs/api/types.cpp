#include "aifs/api/types.h"

#include <utility>

#include "aifs/api/aggregate_query.h"

namespace aifs {

std::string_view KindName(AssetKind kind) {
  switch (kind) {
    case AssetKind::kBlob: return "blob";
    case AssetKind::kTensor: return "tensor";
    case AssetKind::kEmbed: return "embed";
    case AssetKind::kArtifact: return "artifact";
  }
  return "unknown";
}

Result<AssetKind> ParseKind(std::string_view name) {
  for (AssetKind k : {AssetKind::kBlob, AssetKind::kTensor, AssetKind::kEmbed, AssetKind::kArtifact})
    if (KindName(k) == name) return k;
  return err::InvalidArgument("UNKNOWN_KIND", "unknown asset kind '" + err::Echo(name) +
                                                  "' (blob, tensor, embed, artifact)");
}

std::string_view MetricName(VectorMetric metric) {
  switch (metric) {
    case VectorMetric::kCosine: return "cosine";
    case VectorMetric::kL2: return "l2";
    case VectorMetric::kInnerProduct: return "inner_product";
  }
  return "unknown";
}

Result<VectorMetric> ParseMetric(std::string_view name) {
  for (VectorMetric m : {VectorMetric::kCosine, VectorMetric::kL2, VectorMetric::kInnerProduct})
    if (MetricName(m) == name) return m;
  if (name == "ip" || name == "dot") return VectorMetric::kInnerProduct;
  return err::InvalidArgument(
      "UNKNOWN_METRIC", "unknown metric '" + err::Echo(name) + "' (cosine, l2, inner_product)");
}

namespace {
constexpr std::pair<EventType, std::string_view> kEventNames[] = {
    {EventType::kAssetCommitted, "asset_committed"},
    {EventType::kAssetDeleted, "asset_deleted"},
    {EventType::kLineageEdgeAdded, "lineage_edge_added"},
    {EventType::kSnapshotCreated, "snapshot_created"},
    {EventType::kBranchMoved, "branch_moved"},
    {EventType::kTagCreated, "tag_created"},
    {EventType::kTagDeleted, "tag_deleted"},
    {EventType::kNamespaceCreated, "namespace_created"},
    {EventType::kNamespaceDeleted, "namespace_deleted"},
    {EventType::kIndexUpdated, "index_updated"},
    {EventType::kDriftDetected, "drift_detected"},
    {EventType::kAssetReleased, "asset_released"},
    {EventType::kSpaceCreated, "space_created"},
    {EventType::kPrivacyBudgetSpent, "privacy_budget_spent"},
    {EventType::kOperatorCompleted, "operator_completed"},
    {EventType::kOperatorFailed, "operator_failed"},
};

constexpr std::pair<AggregateKind, std::string_view> kAggregateNames[] = {
    {AggregateKind::kCount, "count"},         {AggregateKind::kSum, "sum"},
    {AggregateKind::kMean, "mean"},           {AggregateKind::kHistogram, "histogram"},
    {AggregateKind::kQuantiles, "quantiles"},
};
constexpr std::pair<NoiseMechanism, std::string_view> kMechanismNames[] = {
    {NoiseMechanism::kLaplace, "laplace"}, {NoiseMechanism::kGaussian, "gaussian"}};

// Lookups in a (value, name) table; "unknown" / INVALID_ARGUMENT `reason`
// naming every known name.
template <typename E, size_t N>
std::string_view NameIn(const std::pair<E, std::string_view> (&table)[N], E value) {
  for (const auto& [v, name] : table)
    if (v == value) return name;
  return "unknown";
}
template <typename E, size_t N>
Result<E> ValueIn(const std::pair<E, std::string_view> (&table)[N], std::string_view name,
                  const char* reason, const char* what) {
  for (const auto& [v, n] : table)
    if (n == name) return v;
  std::string known;
  for (const auto& [v, n] : table) known += (known.empty() ? "" : ", ") + std::string(n);
  return err::InvalidArgument(
      reason, "unknown " + std::string(what) + " '" + err::Echo(name) + "' (" + known + ")");
}

}  // namespace

std::string_view EventTypeName(EventType type) { return NameIn(kEventNames, type); }

Result<EventType> ParseEventType(std::string_view name) {
  return ValueIn(kEventNames, name, "UNKNOWN_EVENT_TYPE", "event type");
}

std::string_view AggregateKindName(AggregateKind kind) { return NameIn(kAggregateNames, kind); }

Result<AggregateKind> ParseAggregateKind(std::string_view name) {
  return ValueIn(kAggregateNames, name, "BAD_AGGREGATE", "aggregate");
}

std::string_view NoiseMechanismName(NoiseMechanism m) { return NameIn(kMechanismNames, m); }

Result<NoiseMechanism> ParseNoiseMechanism(std::string_view name) {
  return ValueIn(kMechanismNames, name, "BAD_MECHANISM", "mechanism");
}

}  // namespace aifs
