#include "aifs/auth/token_revocations.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "aifs/core/clock.h"
#include "aifs/core/hex.h"
#include "aifs/meta/meta_store.h"

namespace aifs::auth {

namespace {

constexpr std::string_view kPrefix = "tr/";

std::string RecordKey(const std::string& token_id) { return std::string(kPrefix) + token_id; }

}  // namespace

Status TokenRevocations::LoadLocked() {
  AIFS_ASSIGN_OR_RETURN(const bool stale, generation_.Stale());
  if (stale) revoked_.reset();  // another server revoked a token
  if (revoked_) return Status::Ok();
  std::unordered_set<std::string> ids;
  AIFS_RETURN_IF_ERROR(meta_.Scan(kPrefix, PrefixEnd(kPrefix), [&](std::string_view k, std::string_view) {
    ids.emplace(k.substr(kPrefix.size()));
    return true;
  }));
  revoked_ = std::move(ids);
  return Status::Ok();
}

Status TokenRevocations::Revoke(const std::string& token_id) {
  if (token_id.size() != 32 || !IsLowerHex(token_id))
    return err::InvalidArgument("BAD_TOKEN_ID",
                                "a token ID is 32 lowercase hex digits (aifs token inspect)");
  std::lock_guard lock(mu_);
  AIFS_RETURN_IF_ERROR(LoadLocked());
  if (revoked_->count(token_id)) return Status::Ok();
  const std::string record = nlohmann::json{{"revoked_unix_ns", NowUnixNanos()}}.dump();
  AIFS_RETURN_IF_ERROR(RunTransaction(meta_, [&](MetaTxn& txn) -> Status {
    AIFS_RETURN_IF_ERROR(txn.Put(RecordKey(token_id), record));
    return generation_.Bump(txn);
  }));
  revoked_->insert(token_id);
  return Status::Ok();
}

Result<bool> TokenRevocations::IsRevoked(const std::string& token_id) {
  std::lock_guard lock(mu_);
  AIFS_RETURN_IF_ERROR(LoadLocked());
  return revoked_->count(token_id) > 0;
}

Result<std::vector<RevokedToken>> TokenRevocations::List() {
  std::vector<RevokedToken> out;
  Status parse;
  AIFS_RETURN_IF_ERROR(meta_.Scan(kPrefix, PrefixEnd(kPrefix), [&](std::string_view k, std::string_view v) {
    auto j = nlohmann::json::parse(v, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      parse = err::DataLoss("BAD_REVOCATION_RECORD", "a token revocation record is not JSON");
      return false;
    }
    out.push_back({std::string(k.substr(kPrefix.size())), j.value("revoked_unix_ns", int64_t{0})});
    return true;
  }));
  AIFS_RETURN_IF_ERROR(parse);
  std::sort(out.begin(), out.end(), [](const RevokedToken& a, const RevokedToken& b) {
    return a.revoked_unix_ns < b.revoked_unix_ns;
  });
  return out;
}

}  // namespace aifs::auth
