#include "aifs/engine/records_view.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "aifs/engine/chunk_index.h"

namespace aifs {

AssetInfo ToAssetInfo(const store::v1::AssetRecord& rec) {
  AssetInfo info;
  info.ns = rec.ns();
  if (auto id = AssetId::FromBytes(AsBytes(rec.id()))) info.id = *id;
  info.kind = static_cast<AssetKind>(rec.kind());
  info.size = rec.size();
  info.metadata = Metadata(rec.metadata().begin(), rec.metadata().end());
  info.created_unix_ns = rec.created_unix_ns();
  info.chunk_count = static_cast<size_t>(ChunkCount(rec));
  for (const auto& edge : rec.parents()) {
    ParentRef p;
    if (auto id = AssetId::FromBytes(AsBytes(edge.parent()))) p.parent = *id;
    p.transform = edge.transform();
    p.transform_digest = edge.transform_digest();
    info.parents.push_back(std::move(p));
  }
  return info;
}

NamespaceInfo ToNamespaceInfo(const store::v1::NamespaceRecord& rec) {
  NamespaceInfo info;
  info.name = rec.name();
  info.created_unix_ns = rec.created_unix_ns();
  info.labels = Metadata(rec.labels().begin(), rec.labels().end());
  info.asset_count = rec.asset_count();
  info.logical_bytes = rec.logical_bytes();
  info.chunk_count = rec.chunk_count();
  info.stored_bytes = rec.stored_bytes();
  info.unique_bytes = rec.unique_bytes();
  info.retired_count = rec.retired_count();
  info.retired_bytes = rec.retired_bytes();
  info.head_version = rec.head_version();
  info.signing_public_key = FixedBytes<32>(rec.signing_public_key());
  const auto& p = rec.policy();
  info.policy.max_logical_bytes = p.max_logical_bytes();
  info.policy.max_assets = p.max_assets();
  if (p.has_zstd_level()) info.policy.zstd_level = p.zstd_level();
  info.policy.keep_snapshots = p.keep_snapshots();
  info.policy.keep_snapshot_seconds = p.keep_snapshot_seconds();
  info.policy.keep_daily = p.keep_daily();
  info.policy.keep_weekly = p.keep_weekly();
  info.policy.keep_monthly = p.keep_monthly();
  info.policy.kms_key_id = p.kms_key_id();
  info.policy.quarantine_embeddings = p.quarantine_embeddings();
  info.policy.segment_size = p.segment_size();
  info.policy.privacy = FromRecord(p.privacy());
  return info;
}

PrivacyPolicy FromRecord(const store::v1::PrivacyPolicy& rec) {
  PrivacyPolicy p;
  p.total_epsilon_micros = rec.total_epsilon_micros();
  p.max_query_epsilon_micros = rec.max_query_epsilon_micros();
  p.total_delta_picos = rec.total_delta_picos();
  p.max_query_delta_picos = rec.max_query_delta_picos();
  p.unit_key = rec.unit_key();
  p.max_contributions = rec.max_contributions();
  for (const auto& f : rec.fields())
    p.fields.push_back(
        {.field = f.field(), .lower = f.lower(), .upper = f.upper(), .decimals = f.decimals()});
  return p;
}

void ToRecord(const PrivacyPolicy& p, store::v1::PrivacyPolicy* rec) {
  rec->Clear();
  rec->set_total_epsilon_micros(p.total_epsilon_micros);
  rec->set_max_query_epsilon_micros(p.max_query_epsilon_micros);
  rec->set_total_delta_picos(p.total_delta_picos);
  rec->set_max_query_delta_picos(p.max_query_delta_picos);
  rec->set_unit_key(p.unit_key);
  rec->set_max_contributions(p.max_contributions);
  for (const PrivacyField& f : p.fields) {
    auto* out = rec->add_fields();
    out->set_field(f.field);
    out->set_lower(f.lower);
    out->set_upper(f.upper);
    out->set_decimals(f.decimals);
  }
}

bool MatchesFilter(const MetaFilter& f, const std::string* value) {
  if (!value) return false;
  const std::string& v = *value;
  switch (f.op) {
    case MetaFilter::Op::kEquals:
      return v == f.value;
    case MetaFilter::Op::kPrefix:
      return std::string_view(v).starts_with(f.value);
    case MetaFilter::Op::kExists:
      return true;
    case MetaFilter::Op::kIn:
      return std::find(f.values.begin(), f.values.end(), v) != f.values.end();
    case MetaFilter::Op::kRange: {
      char* end = nullptr;
      const double x = std::strtod(v.c_str(), &end);
      if (v.empty() || end != v.c_str() + v.size() || std::isnan(x)) return false;
      return !(f.min && x < *f.min) && !(f.max && x > *f.max);
    }
  }
  return false;
}

bool MatchesMetadata(const store::v1::AssetRecord& rec, const std::vector<MetaFilter>& filters) {
  return std::all_of(filters.begin(), filters.end(), [&](const MetaFilter& f) {
    auto it = rec.metadata().find(f.key);
    return MatchesFilter(f, it == rec.metadata().end() ? nullptr : &it->second);
  });
}

}  // namespace aifs
