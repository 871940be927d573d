#include "aifs/storage/kms/local_kms.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

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
  {
    std::unique_lock lock(kms->mu_);
    AIFS_RETURN_IF_ERROR(kms->ReloadLocked());
  }
  return std::unique_ptr<Kms>(std::move(kms));
}

namespace {
// The keyfile's change time and size: what tells a rewrite (an atomic rename
// gives a new inode, so the inode number goes in too).
std::string FileStamp(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return "";
  return std::to_string(st.st_ino) + ":" + std::to_string(st.st_ctim.tv_sec) + "." +
         std::to_string(st.st_ctim.tv_nsec) + ":" + std::to_string(st.st_size);
}
}  // namespace

Result<LocalKms::KeyMap> LocalKms::ReadKeyfile() const {
  auto text = ReadFileToString(path_);
  if (!text.ok()) {
    const Status& s = text.status();
    return Status(s.code(), "KMS_KEY_UNAVAILABLE", s.message());
  }
  KeyMap keys;
  auto fail = [&](Status st) {
    for (auto& [v, k] : keys) SecureWipe(k.key.data(), k.key.size());
    SecureWipe(text->data(), text->size());
    return st;
  };
  std::istringstream in(*text);
  std::string line;
  if (!std::getline(in, line) || (line != kHeader && line != kHeaderV1))
    return fail(BadKeyfile(path_, "bad header"));
  const bool checked = line == kHeader;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream ls(line);
    std::string word, hex, check, extra;
    uint32_t version = 0;
    int64_t created = 0;
    if (!(ls >> word >> version >> created >> hex) || word != "key" || version == 0 ||
        (checked && !(ls >> check)) || (ls >> extra))
      return fail(BadKeyfile(path_, "bad line"));
    auto key = HexDecode(hex);
    if (!key || key->size() != 32) return fail(BadKeyfile(path_, "bad key material"));
    KeyVersion k{{}, created};
    std::memcpy(k.key.data(), key->data(), 32);
    SecureWipe(key->data(), key->size());
    SecureWipe(hex.data(), hex.size());
    SecureWipe(line.data(), line.size());
    if (checked && KeyCheck(version, created, k.key) != check) {
      SecureWipe(k.key.data(), k.key.size());
      return fail(err::DataLoss("KMS_KEY_CORRUPT",
                                "keyfile " + path_ + ": key " + KeyId(version) +
                                    " does not match its check value (the keyfile was altered "
                                    "or damaged; restore it from a backup)"));
    }
    if (keys.count(version))
      return fail(BadKeyfile(path_, "key version " + std::to_string(version) + " twice"));
    keys[version] = k;
  }
  SecureWipe(text->data(), text->size());
  if (keys.empty()) return BadKeyfile(path_, "no keys");
  return keys;
}

Status LocalKms::ReloadLocked() const {
  const std::string stamp = FileStamp(path_);
  AIFS_ASSIGN_OR_RETURN(KeyMap fresh, ReadKeyfile());
  // A key this process holds must still be there, unchanged: data it wrapped
  // may be stored under it by now.
  for (const auto& [v, k] : keys_) {
    auto it = fresh.find(v);
    if (it == fresh.end() || it->second.key != k.key) {
      for (auto& [fv, fk] : fresh) SecureWipe(fk.key.data(), fk.key.size());
      return err::DataLoss("KMS_KEY_CHANGED",
                           "keyfile " + path_ + " no longer holds key " + KeyId(v) +
                               " as this process knows it (restore the keyfile from a backup)");
    }
  }
  for (auto& [v, k] : keys_) SecureWipe(k.key.data(), k.key.size());
  keys_ = std::move(fresh);
  stamp_ = stamp;
  looked_at_ = std::chrono::steady_clock::now();
  return Status::Ok();
}

void LocalKms::ReloadIfChanged() const {
  constexpr auto kLookEvery = std::chrono::seconds(1);
  const auto now = std::chrono::steady_clock::now();
  {
    std::shared_lock lock(mu_);
    if (now - looked_at_ < kLookEvery) return;
  }
  std::unique_lock lock(mu_);
  if (now - looked_at_ < kLookEvery) return;
  looked_at_ = now;
  // An unreadable or damaged file keeps the keys in memory: they still
  // unwrap what they wrapped, and Rotate or a miss reports the file's error.
  if (FileStamp(path_) != stamp_) (void)ReloadLocked();
}

Result<LocalKms::KeyVersion> LocalKms::Find(uint32_t version) const {
  {
    std::shared_lock lock(mu_);
    if (auto it = keys_.find(version); it != keys_.end()) return it->second;
  }
  std::unique_lock lock(mu_);  // another process may have rotated
  if (!keys_.count(version)) AIFS_RETURN_IF_ERROR(ReloadLocked());
  if (auto it = keys_.find(version); it != keys_.end()) return it->second;
  return err::NotFound("KMS_KEY_NOT_FOUND", "key " + KeyId(version) + " is not in " + path_);
}

Status LocalKms::Save() const {
  std::string text(kHeader);
  text += '\n';
  for (const auto& [v, k] : keys_)
    text += "key " + std::to_string(v) + " " + std::to_string(k.created_unix_ns) + " " +
            HexEncode(k.key) + " " + KeyCheck(v, k.created_unix_ns, k.key) + "\n";
  Status st = WriteFileAtomic(path_, text, 0600);
  SecureWipe(text.data(), text.size());
  if (st.ok()) stamp_ = FileStamp(path_);
  return st;
}

std::string LocalKms::CurrentKeyId() const {
  ReloadIfChanged();
  std::shared_lock lock(mu_);
  return KeyId(keys_.rbegin()->first);
}

std::vector<KmsKeyInfo> LocalKms::ListKeys() const {
  ReloadIfChanged();
  std::shared_lock lock(mu_);
  std::vector<KmsKeyInfo> out;
  for (const auto& [v, k] : keys_) out.push_back({KeyId(v), k.created_unix_ns, false});
  out.back().current = true;
  return out;
}

namespace {
// "local:v12" -> 12; 0 for anything else.
uint32_t VersionOf(std::string_view key_id) {
  if (!key_id.starts_with("local:v") || key_id.size() == 7) return 0;
  uint32_t v = 0;
  for (char c : key_id.substr(7)) {
    if (c < '0' || c > '9' || v > 100'000'000) return 0;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  return v;
}
}  // namespace

Result<WrappedKey> LocalKms::WrapWith(std::string_view key_id, const AesKey& data_key,
                                      ByteSpan context) {
  const uint32_t version = VersionOf(key_id);
  if (version == 0)
    return err::NotFound("KMS_KEY_NOT_FOUND", "the local KMS has no key " + std::string(key_id));
  AIFS_ASSIGN_OR_RETURN(KeyVersion master, Find(version));
  WrappedKey w{KeyId(version), {}};
  GcmNonce nonce;
  AIFS_RETURN_IF_ERROR(SecureRandom(nonce));
  w.blob.assign(nonce.begin(), nonce.end());
  Status st = AesGcmSeal(master.key, nonce, KmsWrapAad(w.key_id, context), data_key, w.blob);
  SecureWipe(master.key.data(), master.key.size());
  AIFS_RETURN_IF_ERROR(st);
  return w;
}

Result<AesKey> LocalKms::Unwrap(std::string_view key_id, ByteSpan blob, ByteSpan context) {
  const uint32_t version = VersionOf(key_id);
  if (version == 0)
    return err::FailedPrecondition("KMS_KEY_UNAVAILABLE",
                                   "key " + std::string(key_id) + " is not a local KMS key");
  auto found = Find(version);
  if (!found.ok() && found.status().code() == Code::kNotFound)
    return err::FailedPrecondition("KMS_KEY_UNAVAILABLE", found.status().message());
  AIFS_ASSIGN_OR_RETURN(KeyVersion master, std::move(found));
  if (blob.size() != 12 + 32 + kGcmTagSize) {
    SecureWipe(master.key.data(), master.key.size());
    return err::DataLoss("KEY_UNWRAP_FAILED", "wrapped key has the wrong length");
  }
  GcmNonce nonce;
  std::memcpy(nonce.data(), blob.data(), nonce.size());
  Bytes plain;
  Status st = AesGcmOpen(master.key, nonce, KmsWrapAad(key_id, context), blob.subspan(nonce.size()),
                         plain, "KEY_UNWRAP_FAILED");
  SecureWipe(master.key.data(), master.key.size());
  AIFS_RETURN_IF_ERROR(st);
  AesKey key;
  std::memcpy(key.data(), plain.data(), key.size());
  SecureWipe(plain.data(), plain.size());
  return key;
}

Result<std::string> LocalKms::Rotate() {
  // One rotation at a time among the processes sharing the keyfile, each
  // adding to the file as it is now.
  const std::string lock_path = path_ + ".lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return err::FromErrno(errno, "open " + lock_path);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }  // also releases the flock
  } closer{fd};
  if (::flock(fd, LOCK_EX) != 0) return err::FromErrno(errno, "lock " + lock_path);
  std::unique_lock lock(mu_);
  AIFS_RETURN_IF_ERROR(ReloadLocked());
  const uint32_t next = keys_.rbegin()->first + 1;
  KeyVersion k{{}, NowUnixNanos()};
  AIFS_RETURN_IF_ERROR(SecureRandom(k.key));
  keys_.emplace(next, k);
  SecureWipe(k.key.data(), k.key.size());
  Status st = Save();
  if (!st.ok()) {
    SecureWipe(keys_[next].key.data(), keys_[next].key.size());
    keys_.erase(next);
    return st;
  }
  return KeyId(next);
}

}  // namespace aifs
