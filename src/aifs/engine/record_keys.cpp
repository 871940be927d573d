#include "aifs/engine/record_keys.h"

#include <atomic>
#include <cstring>
#include <mutex>

#include "aifs/core/random.h"
#include "aifs/engine/namespace_record.h"
#include "aifs/engine/publish.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"

namespace aifs {

using store::v1::NamespaceRecord;

namespace {

std::optional<KeyTag> TagOf(const NamespaceRecord& rec) {
  if (rec.record_key_tag().size() != sizeof(KeyTag)) return std::nullopt;
  KeyTag tag;
  std::memcpy(tag.data(), rec.record_key_tag().data(), tag.size());
  return tag;
}

// Parts joined by 0x00 bytes.
Bytes Joined(std::initializer_list<std::string_view> parts) {
  std::string out;
  bool first = true;
  for (std::string_view p : parts) {
    if (!first) out.push_back('\0');
    first = false;
    out.append(p);
  }
  return Bytes(out.begin(), out.end());
}

std::string_view Chars(const Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

// The context of an asset's sealed fields, in a buffer of the calling thread
// (a scan opens one per record and should not allocate for it).
ByteSpan AssetContext(std::string_view ns, std::string_view id) {
  thread_local std::string c;
  c.assign("asset");
  c.push_back('\0');
  c.append(ns);
  c.push_back('\0');
  c.append(id);
  return AsBytes(c);
}

Bytes VectorContext(std::string_view ns, std::string_view space, const AssetId& id) {
  return Joined({"vector", ns, space, Chars(id.bytes())});
}

}  // namespace

namespace {
std::atomic<uint64_t> g_next_serial{1};
}  // namespace

RecordKeys::RecordKeys(MetaStore& meta, Kms& kms)
    : meta_(meta), kms_(kms), serial_(g_next_serial.fetch_add(1)) {}

RecordKeys::~RecordKeys() {
  for (auto& [k, key] : cache_) SecureWipe(key.data(), key.size());
}

Bytes RecordKeyContext(std::string_view ns, ByteSpan tag) {
  return Joined({"aifs/ns-record-key/v1", ns, AsChars(tag)});
}

Bytes IndexFileContext(std::string_view ns, std::string_view space) {
  return Joined({"index", ns, space});
}

std::string RecordKeys::CacheKey(std::string_view ns, const KeyTag& tag) {
  std::string k(ns);
  k.push_back('\0');
  k.append(reinterpret_cast<const char*>(tag.data()), tag.size());
  return k;
}

Status RecordKeys::AddTo(NamespaceRecord& rec) {
  RecordKey rk;
  AIFS_RETURN_IF_ERROR(SecureRandom(rk.tag));
  AIFS_RETURN_IF_ERROR(SecureRandom(rk.key));
  const Bytes context = RecordKeyContext(rec.name(), rk.tag);
  const std::string& pinned = rec.policy().kms_key_id();
  auto wrapped =
      pinned.empty() ? kms_.Wrap(rk.key, context) : kms_.WrapWith(pinned, rk.key, context);
  if (!wrapped.ok()) {
    SecureWipe(rk.key.data(), rk.key.size());
    return wrapped.status().WithContext("record key of namespace '" + rec.name() + "'");
  }
  rec.set_record_key_tag(rk.tag.data(), rk.tag.size());
  rec.set_record_key_wrapped(wrapped->blob.data(), wrapped->blob.size());
  rec.set_record_kms_key_id(wrapped->key_id);
  std::unique_lock lock(mu_);
  cache_[CacheKey(rec.name(), rk.tag)] = rk.key;
  SecureWipe(rk.key.data(), rk.key.size());
  return Status::Ok();
}

Result<RecordKey> RecordKeys::Unwrap(const NamespaceRecord& rec) {
  auto tag = TagOf(rec);
  if (!tag)
    return err::DataLoss("METADATA_CORRUPT",
                         "namespace '" + rec.name() + "' has a malformed record key tag");
  const std::string cache_key = CacheKey(rec.name(), *tag);
  {
    std::shared_lock lock(mu_);
    auto it = cache_.find(cache_key);
    if (it != cache_.end()) return RecordKey{*tag, it->second};
  }
  auto key = kms_.Unwrap(rec.record_kms_key_id(), AsBytes(rec.record_key_wrapped()),
                         RecordKeyContext(rec.name(), *tag));
  if (!key.ok()) return key.status().WithContext("record key of namespace '" + rec.name() + "'");
  std::unique_lock lock(mu_);
  cache_[cache_key] = *key;
  RecordKey out{*tag, *key};
  SecureWipe(key->data(), key->size());
  return out;
}

Result<RecordKey> RecordKeys::Of(NamespaceRecord& rec, bool* added) {
  if (added) *added = false;
  if (rec.record_key_tag().empty()) {
    AIFS_RETURN_IF_ERROR(AddTo(rec));
    if (added) *added = true;
  }
  return Unwrap(rec);
}

Result<RecordKey> RecordKeys::ForWrite(const std::string& ns) {
  NamespaceRecord found;
  AIFS_RETURN_IF_ERROR(RunTransaction(meta_, [&](MetaTxn& txn) -> Status {
    AIFS_ASSIGN_OR_RETURN(auto rec,
                          LoadRecord<NamespaceRecord>(txn, keys::Namespace(ns), "namespace"));
    if (!rec) return NamespaceNotFound(ns);
    found = *rec;
    if (!rec->record_key_tag().empty()) return Status::Ok();  // nothing to write
    AIFS_RETURN_IF_ERROR(AddTo(found));
    return PutNamespaceRecord(txn, found);
  }));
  return Unwrap(found);
}

Result<RecordKey> RecordKeys::ForRead(const std::string& ns, const KeyTag& tag) {
  // The last key this thread found, for this instance: a scan reads one
  // namespace, so most calls end here without a lock or a hash. A tag names
  // one key for good, so the memo never goes stale.
  struct Memo {
    uint64_t owner = 0;
    std::string ns;
    KeyTag tag{};
    AesKey key{};
    ~Memo() { SecureWipe(key.data(), key.size()); }
  };
  thread_local Memo memo;
  if (memo.owner == serial_ && memo.tag == tag && memo.ns == ns) return RecordKey{tag, memo.key};
  {
    thread_local std::string lookup;  // no allocation per sealed value read
    lookup.assign(ns);
    lookup.push_back('\0');
    lookup.append(reinterpret_cast<const char*>(tag.data()), tag.size());
    std::shared_lock lock(mu_);
    auto it = cache_.find(lookup);
    if (it != cache_.end()) {
      memo.owner = serial_;
      memo.ns = ns;
      memo.tag = tag;
      memo.key = it->second;
      return RecordKey{tag, it->second};
    }
  }
  auto missing = [&] {
    return err::DataLoss("RECORD_KEY_MISSING", "a value of namespace '" + ns +
                                                   "' is sealed under a record key the namespace "
                                                   "does not have");
  };
  AIFS_ASSIGN_OR_RETURN(auto bytes, meta_.Get(keys::Namespace(ns)));
  if (!bytes) return missing();
  NamespaceRecord rec;
  AIFS_RETURN_IF_ERROR(ParseRecord(*bytes, rec, "namespace"));
  auto have = TagOf(rec);
  if (!have || *have != tag) return missing();
  return Unwrap(rec);
}

Result<bool> RecordKeys::Rewrap(NamespaceRecord& rec, const std::string& target) {
  auto tag = TagOf(rec);
  if (!tag || rec.record_kms_key_id() == target) return false;
  AIFS_ASSIGN_OR_RETURN(WrappedKey w,
                        kms_.Rewrap(rec.record_kms_key_id(), AsBytes(rec.record_key_wrapped()),
                                    RecordKeyContext(rec.name(), *tag), target));
  rec.set_record_key_wrapped(w.blob.data(), w.blob.size());
  rec.set_record_kms_key_id(w.key_id);
  return true;
}

Status SealAssetRecord(const RecordKey& key, store::v1::AssetRecord& rec) {
  if (rec.metadata().empty()) return Status::Ok();
  store::v1::AssetRecord fields;
  fields.mutable_metadata()->swap(*rec.mutable_metadata());
  const std::string plain = SerializeDeterministic(fields);
  std::string sealed;
  Status st = SealValue(key, AssetContext(rec.ns(), rec.id()), AsBytes(plain), sealed);
  if (!st.ok()) {
    fields.mutable_metadata()->swap(*rec.mutable_metadata());
    return st;
  }
  rec.set_sealed(std::move(sealed));
  return Status::Ok();
}

Status OpenAssetRecord(RecordKeys& keys, store::v1::AssetRecord& rec) {
  if (rec.sealed().empty()) return Status::Ok();
  auto tag = SealedValueTag(rec.sealed());
  if (!tag)
    return err::DataLoss("METADATA_CORRUPT", "the sealed fields of an asset record are malformed");
  AIFS_ASSIGN_OR_RETURN(RecordKey key, keys.ForRead(rec.ns(), *tag));
  thread_local std::string plain;  // reused: no allocation per record
  Status st =
      OpenValue(key, AssetContext(rec.ns(), rec.id()), rec.sealed(), plain, "METADATA_CORRUPT");
  SecureWipe(key.key.data(), key.key.size());
  if (!st.ok()) return st.WithContext("sealed fields of an asset record");
  // The plaintext is an AssetRecord holding only the sealed fields: merged
  // into the record, they take their places.
  rec.clear_sealed();
  const bool parsed = rec.MergeFromString(plain);
  SecureWipe(plain.data(), plain.size());
  if (!parsed)
    return err::DataLoss("METADATA_CORRUPT", "the sealed fields of an asset record do not parse");
  return Status::Ok();
}

Result<std::string> SealVector(const RecordKey& key, std::string_view ns, std::string_view space,
                               const AssetId& id, std::span<const float> v) {
  std::string out;
  AIFS_RETURN_IF_ERROR(SealValue(
      key, VectorContext(ns, space, id),
      ByteSpan(reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(float)), out));
  return out;
}

Result<std::vector<float>> OpenVector(RecordKeys& keys, std::string_view ns, std::string_view space,
                                      const AssetId& id, std::string_view stored, uint32_t dim) {
  const size_t bytes = size_t{dim} * sizeof(float);
  std::vector<float> v(dim);
  if (stored.size() == bytes) {                   // written before sealing: the bare floats
    std::memcpy(v.data(), stored.data(), bytes);  // little-endian hosts only (x86, arm)
    return v;
  }
  auto tag = SealedValueTag(stored);
  if (stored.size() != bytes + kSealedValueOverhead || !tag)
    return err::DataLoss("VECTOR_CORRUPT", "stored vector has " + std::to_string(stored.size()) +
                                               " bytes, expected " + std::to_string(bytes) +
                                               " sealed");
  AIFS_ASSIGN_OR_RETURN(RecordKey key, keys.ForRead(std::string(ns), *tag));
  std::string plain;
  Status st = OpenValue(key, VectorContext(ns, space, id), stored, plain, "VECTOR_CORRUPT");
  SecureWipe(key.key.data(), key.key.size());
  if (!st.ok()) return st;
  std::memcpy(v.data(), plain.data(), bytes);
  SecureWipe(plain.data(), plain.size());
  return v;
}

}  // namespace aifs
