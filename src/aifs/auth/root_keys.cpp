#include "aifs/auth/root_keys.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "aifs/core/clock.h"
#include "aifs/core/hex.h"
#include "aifs/core/random.h"
#include "aifs/meta/meta_store.h"
#include "aifs/storage/kms.h"

namespace aifs::auth {

namespace {
// The JSON object of key `id`'s record; DATA_LOSS BAD_ROOT_KEY_RECORD else.
Result<nlohmann::json> ParseKeyRecord(std::string_view raw, const std::string& id) {
  auto j = nlohmann::json::parse(raw, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return err::DataLoss("BAD_ROOT_KEY_RECORD", "root key record " + id + " is not JSON");
  return j;
}
}  // namespace

std::string RootKeyStore::RecordKey(const std::string& id) const {
  return std::string(ring_.record_prefix) + id;
}

// The KMS binds each wrapped key to its ring and ID (authenticated context).
std::string RootKeyStore::WrapContext(const std::string& id) const {
  return std::string(ring_.wrap_context) + id;
}

uint64_t RootKeyStore::Serial(const std::string& id) const {
  if (id.size() < 2 || id[0] != ring_.id_letter) return 0;
  uint64_t n = 0;
  for (char c : id.substr(1)) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

Status RootKeyStore::UnknownKey(const std::string& id) const {
  return Status(Code::kUnauthenticated, "UNKNOWN_KEY",
                "the credential names " + std::string(ring_.noun) + " '" + id +
                    "', which this server never issued");
}

Result<std::vector<RootKeyInfo>> RootKeyStore::ListLocked() {
  std::vector<RootKeyInfo> keys;
  Status parse;
  AIFS_RETURN_IF_ERROR(meta_.Scan(
      ring_.record_prefix, PrefixEnd(ring_.record_prefix),
      [&](std::string_view, std::string_view v) {
        auto j = nlohmann::json::parse(v, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
          parse = err::DataLoss("BAD_ROOT_KEY_RECORD", "a token root key record is not JSON");
          return false;
        }
        keys.push_back({.id = j.value("id", ""),
                        .created_unix_ns = j.value("created_unix_ns", int64_t{0}),
                        .revoked = j.value("revoked", false),
                        .kms_key_id = j.value("kms_key_id", "")});
        return true;
      }));
  AIFS_RETURN_IF_ERROR(parse);
  std::sort(keys.begin(), keys.end(), [this](const RootKeyInfo& a, const RootKeyInfo& b) {
    return Serial(a.id) < Serial(b.id);
  });
  for (auto it = keys.rbegin(); it != keys.rend(); ++it)
    if (!it->revoked) {
      it->current = true;
      break;
    }
  return keys;
}

Result<std::vector<RootKeyInfo>> RootKeyStore::List() {
  std::lock_guard lock(mu_);
  return ListLocked();
}

Result<RootKey> RootKeyStore::Get(const std::string& id) {
  std::lock_guard lock(mu_);
  AIFS_ASSIGN_OR_RETURN(const bool stale, generation_.Stale());
  if (stale) cache_.clear();  // another server revoked a key
  if (auto it = cache_.find(id); it != cache_.end()) return it->second;
  if (Serial(id) == 0) return UnknownKey(id);
  AIFS_ASSIGN_OR_RETURN(auto raw, meta_.Get(RecordKey(id)));
  if (!raw) return UnknownKey(id);
  AIFS_ASSIGN_OR_RETURN(const nlohmann::json j, ParseKeyRecord(*raw, id));
  if (j.value("revoked", false))
    return Status(Code::kUnauthenticated, "KEY_REVOKED",
                  "the " + std::string(ring_.noun) + " '" + id + "' has been revoked");
  std::optional<Bytes> blob = HexDecode(j.value("wrapped", ""));
  if (!blob) return err::DataLoss("BAD_ROOT_KEY_RECORD", "root key record " + id + " is damaged");
  const std::string context = WrapContext(id);
  AIFS_ASSIGN_OR_RETURN(AesKey key,
                        kms_.Unwrap(j.value("kms_key_id", ""), *blob, AsBytes(context)));
  RootKey rk{id, Bytes(key.begin(), key.end())};
  cache_[id] = rk;
  return rk;
}

Result<RootKey> RootKeyStore::Current() {
  std::string id;
  {
    std::lock_guard lock(mu_);
    AIFS_ASSIGN_OR_RETURN(auto keys, ListLocked());
    for (const RootKeyInfo& k : keys)
      if (k.current) id = k.id;
  }
  if (id.empty())
    return err::FailedPrecondition("NO_ROOT_KEY", "the store has no usable " +
                                                      std::string(ring_.noun) + " (" +
                                                      std::string(ring_.rotate_hint) + ")");
  return Get(id);
}

Result<RootKey> RootKeyStore::Rotate() {
  std::lock_guard lock(mu_);
  AIFS_ASSIGN_OR_RETURN(auto keys, ListLocked());
  const std::string id =
      ring_.id_letter + std::to_string(keys.empty() ? 1 : Serial(keys.back().id) + 1);
  AesKey secret;
  AIFS_RETURN_IF_ERROR(SecureRandom(secret));
  const std::string context = WrapContext(id);
  AIFS_ASSIGN_OR_RETURN(WrappedKey wrapped, kms_.Wrap(secret, AsBytes(context)));
  nlohmann::json j = {{"id", id},
                      {"created_unix_ns", NowUnixNanos()},
                      {"revoked", false},
                      {"kms_key_id", wrapped.key_id},
                      {"wrapped", HexEncode(wrapped.blob)}};
  AIFS_RETURN_IF_ERROR(RunTransaction(meta_, [&](MetaTxn& txn) -> Status {
    AIFS_ASSIGN_OR_RETURN(auto existing, txn.Get(RecordKey(id)));
    if (existing)
      return err::Aborted("TXN_CONFLICT",
                          std::string(ring_.noun) + " " + id + " appeared meanwhile");
    return txn.Put(RecordKey(id), j.dump());
  }));
  RootKey rk{id, Bytes(secret.begin(), secret.end())};
  cache_[id] = rk;
  return rk;
}

Result<uint64_t> RootKeyStore::RewrapAll(const std::string& target) {
  std::lock_guard lock(mu_);
  AIFS_ASSIGN_OR_RETURN(auto keys, ListLocked());
  uint64_t moved = 0;
  for (const RootKeyInfo& k : keys) {
    if (k.kms_key_id == target) continue;
    bool changed = false;
    AIFS_RETURN_IF_ERROR(RunTransaction(meta_, [&](MetaTxn& txn) -> Status {
      changed = false;
      AIFS_ASSIGN_OR_RETURN(auto raw, txn.Get(RecordKey(k.id)));
      if (!raw) return Status::Ok();
      auto j = nlohmann::json::parse(*raw, nullptr, false);
      auto blob = j.is_object() ? HexDecode(j.value("wrapped", "")) : std::nullopt;
      if (!blob)
        return err::DataLoss("BAD_ROOT_KEY_RECORD", "root key record " + k.id + " does not parse");
      const std::string from = j.value("kms_key_id", "");
      if (from == target) return Status::Ok();
      const std::string context = WrapContext(k.id);
      AIFS_ASSIGN_OR_RETURN(WrappedKey w, kms_.Rewrap(from, *blob, AsBytes(context), target));
      j["kms_key_id"] = w.key_id;
      j["wrapped"] = HexEncode(w.blob);
      changed = true;
      return txn.Put(RecordKey(k.id), j.dump());
    }));
    moved += changed ? 1 : 0;
  }
  return moved;
}

Status RootKeyStore::Revoke(const std::string& id) {
  std::lock_guard lock(mu_);
  AIFS_ASSIGN_OR_RETURN(auto keys, ListLocked());
  AIFS_RETURN_IF_ERROR(RunTransaction(meta_, [&](MetaTxn& txn) -> Status {
    // Every record is read inside the transaction: two servers revoking the
    // two last live keys at once conflict, and the retry sees the other's.
    std::vector<std::string> ids{id};
    for (const RootKeyInfo& k : keys)
      if (k.id != id) ids.push_back(k.id);
    std::optional<nlohmann::json> target;
    int live = 0;
    for (const std::string& each : ids) {
      AIFS_ASSIGN_OR_RETURN(auto raw, txn.Get(RecordKey(each)));
      if (!raw) continue;
      AIFS_ASSIGN_OR_RETURN(nlohmann::json j, ParseKeyRecord(*raw, each));
      live += j.value("revoked", false) ? 0 : 1;
      if (each == id) target = std::move(j);
    }
    if (!target)
      return err::NotFound("UNKNOWN_KEY", "no " + std::string(ring_.noun) + " '" + id + "'");
    if (target->value("revoked", false)) return Status::Ok();
    // With no live key nothing could mint or verify a token again, and no
    // remote admin could undo it.
    if (live == 1)
      return err::FailedPrecondition("LAST_ROOT_KEY", std::string(ring_.noun) + " " + id +
                                                          " is the only live one: rotate first (" +
                                                          std::string(ring_.rotate_hint) + ")");
    (*target)["revoked"] = true;
    AIFS_RETURN_IF_ERROR(txn.Put(RecordKey(id), target->dump()));
    return generation_.Bump(txn);
  }));
  cache_.erase(id);
  return Status::Ok();
}

}  // namespace aifs::auth
