#include "aifs/storage/kms/local_kms.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <sstream>

#include "aifs/core/blake3.h"
#include "aifs/core/clock.h"
#include "aifs/core/file_util.h"
#include "aifs/core/hex.h"
#include "aifs/core/random.h"

namespace aifs {

namespace {
// Version 1 lines are "key <version> <created> <hex>"; version 2 appends a
// check value (below), so a damaged key is told from a damaged chunk.
constexpr std::string_view kHeaderV1 = "aifs-local-kms 1";
constexpr std::string_view kHeader = "aifs-local-kms 2";

Status BadKeyfile(const std::string& path, const std::string& why) {
  return err::DataLoss("KMS_KEYFILE_CORRUPT", "keyfile " + path + ": " + why);
}

// The key check value of one line: the first 8 bytes of BLAKE3 over a domain,
// the version, the creation time and the key. Any changed digit of the line
// (or of the check itself) makes it disagree.
std::string KeyCheck(uint32_t version, int64_t created, const AesKey& key) {
  std::string msg = "aifs/local-kms/key-check/v1";
  msg += '\0';
  msg += std::to_string(version);
  msg += '\0';
  msg += std::to_string(created);
  msg += '\0';
  msg.append(reinterpret_cast<const char*>(key.data()), key.size());
  const Digest d = Blake3::Hash(AsBytes(msg));
  SecureWipe(msg.data(), msg.size());
  return HexEncode(ByteSpan(d.data(), 8));
}
}  // namespace

LocalKms::~LocalKms() {
  for (auto& [v, k] : keys_) SecureWipe(k.key.data(), k.key.size());
}

Result<std::unique_ptr<Kms>> LocalKms::Open(const std::string& path, bool create) {
  std::unique_ptr<LocalKms> kms(new LocalKms(path));
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (!create)
      return err::FailedPrecondition("KMS_KEY_UNAVAILABLE",
                                     "local KMS keyfile " + path + " is missing");
    KeyVersion k{{}, NowUnixNanos()};
    AIFS_RETURN_IF_ERROR(SecureRandom(k.key));
    kms->keys_.emplace(1, k);
    AIFS_RETURN_IF_ERROR(kms->Save());
    return std::unique_ptr<Kms>(std::move(kms));
  }
  if ((st.st_mode & 077) != 0)
    return err::FailedPrecondition(
        "KMS_KEYFILE_INSECURE", "keyfile " + path + " is readable by others; chmod 600 it");
  AIFS_RETURN_IF_ERROR(kms->Load());
  return std::unique_ptr<Kms>(std::move(kms));
}

Status LocalKms::Load() {
  auto text = ReadFileToString(path_);
  if (!text.ok()) {
    const Status& s = text.status();
    return Status(s.code(), "KMS_KEY_UNAVAILABLE", s.message());
  }
  std::istringstream in(*text);
  std::string line;
  if (!std::getline(in, line) || (line != kHeader && line != kHeaderV1))
    return BadKeyfile(path_, "bad header");
  const bool checked = line == kHeader;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream ls(line);
    std::string word, hex, check, extra;
    uint32_t version = 0;
    int64_t created = 0;
    if (!(ls >> word >> version >> created >> hex) || word != "key" || version == 0 ||
        (checked && !(ls >> check)) || (ls >> extra))
      return BadKeyfile(path_, "bad line");
    auto key = HexDecode(hex);
    if (!key || key->size() != 32) return BadKeyfile(path_, "bad key material");
    KeyVersion k{{}, created};
    std::memcpy(k.key.data(), key->data(), 32);
    SecureWipe(key->data(), key->size());
    SecureWipe(hex.data(), hex.size());
    if (checked && KeyCheck(version, created, k.key) != check) {
      SecureWipe(k.key.data(), k.key.size());
      return err::DataLoss("KMS_KEY_CORRUPT",
                           "keyfile " + path_ + ": key " + KeyId(version) +
                               " does not match its check value (the keyfile was altered or "
                               "damaged; restore it from a backup)");
    }
    if (keys_.count(version))
      return BadKeyfile(path_, "key version " + std::to_string(version) + " twice");
    keys_[version] = k;
  }
  SecureWipe(text->data(), text->size());
  if (keys_.empty()) return BadKeyfile(path_, "no keys");
  return Status::Ok();
}

Status LocalKms::Save() const {
  std::string text(kHeader);
  text += '\n';
  for (const auto& [v, k] : keys_)
    text += "key " + std::to_string(v) + " " + std::to_string(k.created_unix_ns) + " " +
            HexEncode(k.key) + " " + KeyCheck(v, k.created_unix_ns, k.key) + "\n";
  Status st = WriteFileAtomic(path_, text, 0600);
  SecureWipe(text.data(), text.size());
  return st;
}

std::string LocalKms::CurrentKeyId() const {
  std::shared_lock lock(mu_);
  return KeyId(keys_.rbegin()->first);
}

std::vector<KmsKeyInfo> LocalKms::ListKeys() const {
  std::shared_lock lock(mu_);
  std::vector<KmsKeyInfo> out;
  for (const auto& [v, k] : keys_) out.push_back({KeyId(v), k.created_unix_ns, false});
  out.back().current = true;
  return out;
}

Result<WrappedKey> LocalKms::WrapWith(std::string_view key_id, const AesKey& data_key,
                                      ByteSpan context) {
  std::shared_lock lock(mu_);
  auto it = std::find_if(keys_.begin(), keys_.end(),
                         [&](const auto& kv) { return KeyId(kv.first) == key_id; });
  if (it == keys_.end())
    return err::NotFound("KMS_KEY_NOT_FOUND", "the local KMS has no key " + std::string(key_id));
  const auto& [version, master] = *it;
  WrappedKey w{KeyId(version), {}};
  GcmNonce nonce;
  AIFS_RETURN_IF_ERROR(SecureRandom(nonce));
  w.blob.assign(nonce.begin(), nonce.end());
  AIFS_RETURN_IF_ERROR(AesGcmSeal(master.key, nonce, KmsWrapAad(w.key_id, context), data_key, w.blob));
  return w;
}

Result<AesKey> LocalKms::Unwrap(std::string_view key_id, ByteSpan blob, ByteSpan context) {
  uint32_t version = 0;
  if (!key_id.starts_with("local:v") ||
      (version = static_cast<uint32_t>(std::strtoul(std::string(key_id.substr(7)).c_str(),
                                                    nullptr, 10))) == 0)
    return err::FailedPrecondition("KMS_KEY_UNAVAILABLE",
                                   "key " + std::string(key_id) + " is not a local KMS key");
  std::shared_lock lock(mu_);
  auto it = keys_.find(version);
  if (it == keys_.end())
    return err::FailedPrecondition("KMS_KEY_UNAVAILABLE",
                                   "key " + std::string(key_id) + " is not in " + path_);
  if (blob.size() != 12 + 32 + kGcmTagSize)
    return err::DataLoss("KEY_UNWRAP_FAILED", "wrapped key has the wrong length");
  GcmNonce nonce;
  std::memcpy(nonce.data(), blob.data(), nonce.size());
  Bytes plain;
  AIFS_RETURN_IF_ERROR(AesGcmOpen(it->second.key, nonce, KmsWrapAad(key_id, context),
                                  blob.subspan(nonce.size()), plain, "KEY_UNWRAP_FAILED"));
  AesKey key;
  std::memcpy(key.data(), plain.data(), key.size());
  SecureWipe(plain.data(), plain.size());
  return key;
}

Result<std::string> LocalKms::Rotate() {
  std::unique_lock lock(mu_);
  uint32_t next = keys_.rbegin()->first + 1;
  KeyVersion k{{}, NowUnixNanos()};
  AIFS_RETURN_IF_ERROR(SecureRandom(k.key));
  keys_.emplace(next, k);
  Status st = Save();
  if (!st.ok()) {
    keys_.erase(next);
    return st;
  }
  return KeyId(next);
}

}  // namespace aifs
