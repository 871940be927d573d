#include "aifs/engine/reseal.h"

#include <cstring>

#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"

namespace aifs {

using store::v1::AssetRecord;
using store::v1::SpaceRecord;
using store::v1::Tombstone;

namespace {

// The namespace segment of "<xx>/<ns>/...".
std::string NamespaceOf(std::string_view key) {
  key.remove_prefix(std::min<size_t>(3, key.size()));
  return std::string(key.substr(0, key.find('/')));
}

std::string SpaceKey(std::string_view ns, std::string_view space) {
  std::string k(ns);
  k.push_back('\0');
  k.append(space);
  return k;
}

Status Corrupt(const std::string& key, const std::string& why) {
  return err::DataLoss("METADATA_CORRUPT", key + ": " + why);
}

}  // namespace

Resealer::~Resealer() {
  for (auto& [ns, k] : record_keys_) SecureWipe(k.key.data(), k.key.size());
}

const std::vector<std::string>& Resealer::Prefixes() {
  static const std::vector<std::string> kPrefixes = {"as/", "ra/", "tb/", "vc/", "vq/"};
  return kPrefixes;
}

Status Resealer::Prepare(const std::vector<std::string>& keys) {
  for (const std::string& key : keys) {
    const std::string ns = NamespaceOf(key);
    if (!record_keys_.count(ns)) {
      auto k = keys_.ForWrite(ns);
      if (!k.ok() && k.status().reason() == "NAMESPACE_NOT_FOUND") {
        // Deleted with its namespace since the batch was listed: nothing to
        // seal (Reseal finds it gone). Still there: the metadata is damaged.
        AIFS_ASSIGN_OR_RETURN(auto still, meta_.Get(key));
        if (!still) continue;
        return Corrupt(key, "its namespace '" + ns + "' does not exist");
      }
      if (!k.ok()) return k.status();
      record_keys_.emplace(ns, *k);
      SecureWipe(k->key.data(), k->key.size());
    }
    std::string vns, space;
    Digest id;
    if (!keys::ParseVector(key, vns, space, id) || dims_.count(SpaceKey(vns, space))) continue;
    AIFS_ASSIGN_OR_RETURN(auto bytes, meta_.Get(keys::Space(vns, space)));
    SpaceRecord rec;
    if (bytes) AIFS_RETURN_IF_ERROR(ParseRecord(*bytes, rec, "space"));
    dims_[SpaceKey(vns, space)] = bytes ? rec.dim() : 0;
  }
  return Status::Ok();
}

Result<RecordKey> Resealer::KeyFor(const std::string& key) const {
  const std::string ns = NamespaceOf(key);
  auto k = record_keys_.find(ns);
  if (k == record_keys_.end()) return Corrupt(key, "its namespace '" + ns + "' does not exist");
  return k->second;
}

Result<Resealer::Resealed> Resealer::Reseal(MetaTxn& txn, const std::string& key) {
  AIFS_ASSIGN_OR_RETURN(auto value, txn.Get(key));
  if (!value) return Resealed::kNothing;  // deleted meanwhile
  const bool tombstone = key.starts_with("tb/");
  if (key.starts_with("as/") || key.starts_with("ra/") || tombstone) {
    AssetRecord asset;
    Tombstone tomb;
    AIFS_RETURN_IF_ERROR(tombstone ? ParseRecord(*value, tomb, "tombstone")
                                   : ParseRecord(*value, asset, "asset"));
    AssetRecord& rec = tombstone ? *tomb.mutable_asset() : asset;
    if (!rec.sealed().empty() || rec.metadata().empty()) return Resealed::kNothing;
    if (rec.ns() != NamespaceOf(key))
      return Corrupt(key, "the record names namespace '" + rec.ns() + "'");
    AIFS_ASSIGN_OR_RETURN(RecordKey k, KeyFor(key));
    Status st = SealAssetRecord(k, rec);
    SecureWipe(k.key.data(), k.key.size());
    AIFS_RETURN_IF_ERROR(st);
    AIFS_RETURN_IF_ERROR(tombstone ? PutRecord(txn, key, tomb) : PutRecord(txn, key, asset));
    return Resealed::kRecord;
  }
  std::string ns, space;
  Digest id;
  if (!keys::ParseVector(key, ns, space, id)) return Corrupt(key, "not a vector key");
  const auto dim = dims_.find(SpaceKey(ns, space));
  // A space that is gone, a sealed or a damaged value: nothing to judge here
  // (damage is `aifs verify`'s business).
  if (dim == dims_.end() || dim->second == 0 ||
      value->size() != size_t{dim->second} * sizeof(float))
    return Resealed::kNothing;
  AIFS_ASSIGN_OR_RETURN(RecordKey k, KeyFor(key));
  std::vector<float> v(dim->second);
  std::memcpy(v.data(), value->data(), value->size());  // little-endian, as format 1 wrote it
  auto sealed = SealVector(k, ns, space, AssetId(id), v);
  SecureWipe(k.key.data(), k.key.size());
  SecureWipe(v.data(), v.size() * sizeof(float));
  SecureWipe(value->data(), value->size());
  if (!sealed.ok()) return sealed.status();
  AIFS_RETURN_IF_ERROR(txn.Put(key, *sealed));
  return Resealed::kVector;
}

}  // namespace aifs
