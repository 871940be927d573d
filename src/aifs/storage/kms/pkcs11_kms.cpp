#include "aifs/storage/kms/pkcs11_kms.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "aifs/core/blake3.h"
#include "aifs/core/clock.h"
#include "aifs/core/file_util.h"
#include "aifs/core/random.h"
#include "aifs/core/url_params.h"

// The GNU spelling of the header (struct ck_attribute, ck_rv_t ...): its
// default compatibility spelling #defines plain words such as `value` and
// `count`, which would rewrite ordinary C++ below.
#define CRYPTOKI_GNU 1
#include <p11-kit/pkcs11.h>

namespace aifs {

// A PKCS#11 library is initialised once per process and its login is per
// process and token, not per session, so every Pkcs11Kms of the process
// shares one of these per module path. Guarded by RegistryMutex().
struct Pkcs11Module {
  std::string path;
  ck_function_list* fn = nullptr;
  int users = 0;            // Pkcs11Kms instances; C_Finalize when it drops to 0
  bool we_initialised = false;
  struct Login {
    Digest pin;  // BLAKE3 of the PIN that logged in: a second open must match it
    int users = 0;
  };
  std::map<ck_slot_id_t, Login> logins;
};

namespace {

// CK_BBOOL values (the GNU header spells no names for them).
constexpr unsigned char kCkTrue = 1, kCkFalse = 0;
constexpr size_t kIvSize = 12;
constexpr size_t kTagBits = 128;
constexpr size_t kBlobSize = kIvSize + sizeof(AesKey) + kTagBits / 8;

std::mutex& RegistryMutex() {
  static std::mutex mu;
  return mu;
}
// Never unloaded: a library's atexit handlers and thread-locals may outlive
// C_Finalize, and dlclose under them crashes at exit.
std::map<std::string, std::unique_ptr<Pkcs11Module>>& Registry() {
  static auto* modules = new std::map<std::string, std::unique_ptr<Pkcs11Module>>();
  return *modules;
}

std::string RvName(ck_rv_t rv) {
  switch (rv) {
    case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
    case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
    case CKR_PIN_LEN_RANGE: return "CKR_PIN_LEN_RANGE";
    case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
    case CKR_DEVICE_REMOVED: return "CKR_DEVICE_REMOVED";
    case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
    case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
    case CKR_FUNCTION_FAILED: return "CKR_FUNCTION_FAILED";
    case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
    case CKR_OBJECT_HANDLE_INVALID: return "CKR_OBJECT_HANDLE_INVALID";
    case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
    case CKR_MECHANISM_PARAM_INVALID: return "CKR_MECHANISM_PARAM_INVALID";
    case CKR_ENCRYPTED_DATA_INVALID: return "CKR_ENCRYPTED_DATA_INVALID";
    case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
    case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
    case CKR_KEY_FUNCTION_NOT_PERMITTED: return "CKR_KEY_FUNCTION_NOT_PERMITTED";
    default: break;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "CKR 0x%lx", rv);
  return buf;
}

Status CkError(ck_rv_t rv, const std::string& what) {
  const std::string msg = what + " failed: " + RvName(rv);
  switch (rv) {
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
      return err::PermissionDenied("KMS_PIN_INCORRECT", msg + " (wrong PIN for the token)");
    case CKR_PIN_LOCKED:
    case CKR_PIN_EXPIRED:
      return err::PermissionDenied("KMS_PIN_LOCKED", msg);
    case CKR_USER_PIN_NOT_INITIALIZED:
      return err::FailedPrecondition("KMS_TOKEN_NOT_INITIALIZED", msg);
    default:
      return err::Unavailable("KMS_UNAVAILABLE", msg);
  }
}

bool IsStaleKey(ck_rv_t rv) {
  return rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID;
}

Status BadUrl(const std::string& why) {
  return err::InvalidArgument("BAD_KMS_URL", "pkcs11 KMS URL: " + why);
}

// Not inlined: inlined into Open, GCC 12 warns (wrongly) that the parsed
// URL's pin_source may be used uninitialized.
[[gnu::noinline]] Result<std::string> ReadPin(const std::string& source) {
  if (source.starts_with("env:")) {
    const std::string name = source.substr(4);
    const char* pin = std::getenv(name.c_str());
    if (pin == nullptr || *pin == '\0')
      return err::FailedPrecondition("KMS_PIN_UNAVAILABLE",
                                     "the token PIN is expected in $" + name + ", which is not set");
    return std::string(pin);
  }
  if (!source.starts_with("file:")) return BadUrl("pin-source must be file:/path or env:NAME");
  std::string path = source.substr(5);
  while (path.starts_with("//")) path.erase(0, 1);  // file:///abs -> /abs
  if (!path.starts_with("/")) return BadUrl("pin-source file path must be absolute");
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return err::FailedPrecondition("KMS_PIN_UNAVAILABLE", "PIN file " + path + " is missing");
  if ((st.st_mode & 077) != 0)
    return err::FailedPrecondition("KMS_PIN_INSECURE",
                                   "PIN file " + path + " is readable by others; chmod 600 it");
  auto text = ReadFileToString(path);
  if (!text.ok())
    return Status(text.status().code(), "KMS_PIN_UNAVAILABLE", text.status().message());
  std::string pin = std::move(*text);
  if (pin.ends_with("\n")) pin.pop_back();
  if (pin.ends_with("\r")) pin.pop_back();
  if (pin.empty())
    return err::FailedPrecondition("KMS_PIN_UNAVAILABLE", "PIN file " + path + " is empty");
  return pin;
}

Result<Pkcs11Module*> AcquireModule(const std::string& path) {
  std::lock_guard lock(RegistryMutex());
  auto& entry = Registry()[path];
  if (!entry) {
    void* dl = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (dl == nullptr) {
      Registry().erase(path);
      return err::Unavailable("KMS_UNAVAILABLE",
                              "cannot load PKCS#11 module " + path + ": " + ::dlerror());
    }
    auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(dl, "C_GetFunctionList"));
    ck_function_list* fn = nullptr;
    if (get == nullptr || get(&fn) != CKR_OK || fn == nullptr) {
      Registry().erase(path);
      return err::Unavailable("KMS_UNAVAILABLE", path + " is not a PKCS#11 module");
    }
    entry = std::make_unique<Pkcs11Module>();
    entry->path = path;
    entry->fn = fn;
  }
  Pkcs11Module* m = entry.get();
  if (m->users == 0) {
    ck_c_initialize_args args{};
    args.flags = CKF_OS_LOCKING_OK;  // we call it from many threads
    const ck_rv_t rv = m->fn->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
      return CkError(rv, "C_Initialize of " + path);
    m->we_initialised = rv == CKR_OK;
  }
  ++m->users;
  return m;
}

void ReleaseModule(Pkcs11Module* m) {
  std::lock_guard lock(RegistryMutex());
  if (--m->users > 0) return;
  m->logins.clear();  // finalising logs every token out
  if (m->we_initialised) (void)m->fn->C_Finalize(nullptr);
}

std::string TrimLabel(const unsigned char* label, size_t n) {
  std::string s(reinterpret_cast<const char*>(label), n);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

ck_attribute Attr(ck_attribute_type_t type, void* value, unsigned long len) {
  ck_attribute a{};
  a.type = type;
  a.value = value;
  a.value_len = len;
  return a;
}

}  // namespace

Result<Pkcs11Url> ParsePkcs11Url(std::string_view url) {
  static const std::string kBadKmsUrl = "BAD_KMS_URL";
  constexpr std::string_view kWhat = "pkcs11 KMS URL";
  constexpr std::string_view kScheme = "pkcs11:";
  if (!url.starts_with(kScheme)) return BadUrl("must start with pkcs11:");
  url.remove_prefix(kScheme.size());
  const size_t q = std::min(url.find('?'), url.size());
  Pkcs11Url out;
  AIFS_RETURN_IF_ERROR(
      ForEachUrlParam(url.substr(0, q), ';', kBadKmsUrl, kWhat, [&](auto name, std::string v) {
        if (name == "token")
          out.token = std::move(v);
        else if (name == "object")
          out.object = std::move(v);
        else
          return BadUrl("unsupported path attribute '" + std::string(name) + "'");
        return Status::Ok();
      }));
  AIFS_RETURN_IF_ERROR(ForEachUrlParam(
      url.substr(std::min(q + 1, url.size())), '&', kBadKmsUrl, kWhat,
      [&](auto name, std::string v) {
        if (name == "module-path")
          out.module_path = std::move(v);
        else if (name == "pin-source")
          out.pin_source = std::move(v);
        else if (name == "pin-value")
          return err::InvalidArgument("KMS_PIN_IN_URL",
                                      "the KMS URL is stored in the data directory: give the PIN "
                                      "with pin-source=file:/path or pin-source=env:NAME");
        else
          return BadUrl("unsupported query attribute '" + std::string(name) + "'");
        return Status::Ok();
      }));
  if (out.token.empty()) return BadUrl("token=<label> is required");
  if (out.object.empty()) return BadUrl("object=<key label prefix> must not be empty");
  if (!out.module_path.starts_with("/")) return BadUrl("module-path=/abs/path.so is required");
  if (!out.pin_source.starts_with("env:") && !out.pin_source.starts_with("file:"))
    return BadUrl("pin-source must be file:/path or env:NAME");
  return out;
}

// An open session borrowed from the pool for one operation. A PKCS#11
// session runs one operation at a time, so concurrent callers each hold one;
// sessions that went bad are closed instead of returned.
class Pkcs11Kms::Session {
 public:
  explicit Session(Pkcs11Kms& kms) : kms_(kms), fn_(*kms.module_->fn) {}
  ~Session() {
    if (!open_) return;
    if (broken_) {
      (void)fn_.C_CloseSession(h_);
      return;
    }
    std::lock_guard lock(kms_.sessions_mu_);
    kms_.idle_sessions_.push_back(h_);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  Status Open() {
    {
      std::lock_guard lock(kms_.sessions_mu_);
      if (!kms_.idle_sessions_.empty()) {
        h_ = kms_.idle_sessions_.back();
        kms_.idle_sessions_.pop_back();
        open_ = true;
        return Status::Ok();
      }
    }
    const ck_rv_t rv =
        fn_.C_OpenSession(kms_.slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &h_);
    if (rv != CKR_OK) return CkError(rv, "C_OpenSession on token " + kms_.url_.token);
    open_ = true;
    return Status::Ok();
  }
  // Passes `rv` through, noting failures that leave the session unusable.
  ck_rv_t Check(ck_rv_t rv) {
    if (rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED || rv == CKR_DEVICE_REMOVED ||
        rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_DEVICE_ERROR)
      broken_ = true;
    return rv;
  }
  ck_session_handle_t h() const { return h_; }
  ck_function_list& fn() { return fn_; }

  // Token secret keys, optionally with exactly this label.
  Result<std::vector<ck_object_handle_t>> FindKeys(const std::string* label) {
    ck_object_class_t cls = CKO_SECRET_KEY;
    ck_key_type_t type = CKK_AES;
    unsigned char yes = kCkTrue;
    std::vector<ck_attribute> t = {Attr(CKA_CLASS, &cls, sizeof cls),
                                   Attr(CKA_KEY_TYPE, &type, sizeof type),
                                   Attr(CKA_TOKEN, &yes, 1)};
    if (label) t.push_back(Attr(CKA_LABEL, const_cast<char*>(label->data()), label->size()));
    ck_rv_t rv = Check(fn_.C_FindObjectsInit(h_, t.data(), t.size()));
    if (rv != CKR_OK) return CkError(rv, "C_FindObjectsInit");
    std::vector<ck_object_handle_t> out;
    for (;;) {
      std::array<ck_object_handle_t, 64> batch;
      unsigned long n = 0;
      rv = Check(fn_.C_FindObjects(h_, batch.data(), batch.size(), &n));
      if (rv != CKR_OK || n == 0) break;
      out.insert(out.end(), batch.begin(), batch.begin() + n);
    }
    const ck_rv_t fin = Check(fn_.C_FindObjectsFinal(h_));
    if (rv != CKR_OK) return CkError(rv, "C_FindObjects");
    if (fin != CKR_OK) return CkError(fin, "C_FindObjectsFinal");
    return out;
  }

  Result<std::string> GetBytes(ck_object_handle_t obj, ck_attribute_type_t type) {
    ck_attribute a = Attr(type, nullptr, 0);
    ck_rv_t rv = Check(fn_.C_GetAttributeValue(h_, obj, &a, 1));
    if (rv != CKR_OK) return CkError(rv, "C_GetAttributeValue");
    std::string out(a.value_len, '\0');
    a.value = out.data();
    rv = Check(fn_.C_GetAttributeValue(h_, obj, &a, 1));
    if (rv != CKR_OK) return CkError(rv, "C_GetAttributeValue");
    out.resize(a.value_len);
    return out;
  }

 private:
  Pkcs11Kms& kms_;
  ck_function_list& fn_;
  ck_session_handle_t h_ = 0;
  bool open_ = false;
  bool broken_ = false;
};

Result<std::unique_ptr<Pkcs11Kms>> Pkcs11Kms::Open(const std::string& url, bool create) {
  AIFS_ASSIGN_OR_RETURN(Pkcs11Url u, ParsePkcs11Url(url));
  AIFS_ASSIGN_OR_RETURN(std::string pin, ReadPin(u.pin_source));
  auto module = AcquireModule(u.module_path);
  if (!module.ok()) {
    SecureWipe(pin.data(), pin.size());
    return module.status();
  }
  // From here the destructor gives back the module (and the login).
  std::unique_ptr<Pkcs11Kms> kms(new Pkcs11Kms(*module, std::move(u)));
  Status st = kms->Login(pin);
  SecureWipe(pin.data(), pin.size());
  AIFS_RETURN_IF_ERROR(st);
  {
    std::unique_lock lock(kms->mu_);
    AIFS_RETURN_IF_ERROR(kms->LoadKeys());
    if (kms->keys_.empty()) {
      if (!create)
        return err::NotFound("KMS_KEY_NOT_FOUND",
                             "token '" + kms->url_.token + "' has no key labelled " +
                                 kms->Label(1) + " (or a later version)");
      AIFS_RETURN_IF_ERROR(kms->Generate(1).status());
      AIFS_RETURN_IF_ERROR(kms->LoadKeys());
    }
  }
  return kms;
}

Status Pkcs11Kms::Login(const std::string& pin) {
  ck_function_list& fn = *module_->fn;
  unsigned long n = 0;
  ck_rv_t rv = fn.C_GetSlotList(kCkTrue, nullptr, &n);
  if (rv != CKR_OK) return CkError(rv, "C_GetSlotList");
  std::vector<ck_slot_id_t> slots(n);
  rv = fn.C_GetSlotList(kCkTrue, slots.data(), &n);
  if (rv != CKR_OK) return CkError(rv, "C_GetSlotList");
  slots.resize(n);
  bool found = false;
  for (ck_slot_id_t s : slots) {
    ck_token_info info{};
    if (fn.C_GetTokenInfo(s, &info) != CKR_OK) continue;
    if (TrimLabel(info.label, sizeof info.label) == url_.token) {
      slot_ = s;
      found = true;
      break;
    }
  }
  if (!found)
    return err::Unavailable("KMS_TOKEN_NOT_FOUND", "no token labelled '" + url_.token +
                                                       "' in PKCS#11 module " + url_.module_path);
  // The session opened here stays in the pool: a token logs the process out
  // when its last session closes.
  Session session(*this);
  AIFS_RETURN_IF_ERROR(session.Open());
  const Digest pin_hash = Blake3::Hash(AsBytes(pin));
  std::lock_guard lock(RegistryMutex());
  auto it = module_->logins.find(slot_);
  if (it != module_->logins.end()) {
    // Logged in already by this process: the token cannot check the PIN
    // again, so it is compared with the one that succeeded.
    if (it->second.pin != pin_hash)
      return err::PermissionDenied("KMS_PIN_INCORRECT",
                                   "wrong PIN for token '" + url_.token + "'");
    ++it->second.users;
    logged_in_ = true;
    return Status::Ok();
  }
  rv = session.Check(fn.C_Login(session.h(), CKU_USER,
                                reinterpret_cast<unsigned char*>(const_cast<char*>(pin.data())),
                                pin.size()));
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
    return CkError(rv, "C_Login to token '" + url_.token + "'");
  module_->logins[slot_] = {pin_hash, 1};
  logged_in_ = true;
  return Status::Ok();
}

Pkcs11Kms::~Pkcs11Kms() {
  for (ck_session_handle_t h : idle_sessions_) (void)module_->fn->C_CloseSession(h);
  if (logged_in_) {
    std::lock_guard lock(RegistryMutex());
    auto it = module_->logins.find(slot_);
    if (it != module_->logins.end() && --it->second.users == 0) module_->logins.erase(it);
  }
  ReleaseModule(module_);
}

Status Pkcs11Kms::LoadKeys() {
  Session s(*this);
  AIFS_RETURN_IF_ERROR(s.Open());
  AIFS_ASSIGN_OR_RETURN(auto handles, s.FindKeys(nullptr));
  const std::string prefix = url_.object + "-v";
  std::map<uint32_t, KeyVersion> found;
  for (ck_object_handle_t h : handles) {
    AIFS_ASSIGN_OR_RETURN(std::string label, s.GetBytes(h, CKA_LABEL));
    if (!label.starts_with(prefix)) continue;
    const std::string digits = label.substr(prefix.size());
    if (digits.empty() || digits.size() > 9 || digits[0] == '0' ||
        digits.find_first_not_of("0123456789") != std::string::npos)
      continue;
    const auto version = static_cast<uint32_t>(std::stoul(digits));
    if (found.count(version))
      return err::FailedPrecondition("KMS_KEY_AMBIGUOUS",
                                     "token '" + url_.token + "' has two keys labelled " + label);
    // Only keys that can never leave the token are used: a key someone
    // imported as extractable would make the HSM pointless.
    unsigned char sensitive = kCkFalse, extractable = kCkTrue;
    unsigned long length = 0;
    ck_attribute attrs[] = {Attr(CKA_SENSITIVE, &sensitive, 1),
                            Attr(CKA_EXTRACTABLE, &extractable, 1),
                            Attr(CKA_VALUE_LEN, &length, sizeof length)};
    const ck_rv_t rv = s.Check(s.fn().C_GetAttributeValue(s.h(), h, attrs, 3));
    if (rv != CKR_OK) return CkError(rv, "C_GetAttributeValue of " + label);
    if (sensitive != kCkTrue || extractable != kCkFalse)
      return err::FailedPrecondition("KMS_KEY_EXTRACTABLE",
                                     "token key " + label +
                                         " is extractable or not sensitive; AIFS only uses keys "
                                         "that cannot leave the token");
    if (length != sizeof(AesKey))
      return err::FailedPrecondition("KMS_KEY_INVALID", "token key " + label + " is not AES-256");
    // CKA_ID holds the creation time (8 bytes, big-endian nanoseconds).
    AIFS_ASSIGN_OR_RETURN(std::string id, s.GetBytes(h, CKA_ID));
    int64_t created = 0;
    if (id.size() == 8)
      for (char c : id) created = (created << 8) | static_cast<uint8_t>(c);
    found[version] = {h, created};
  }
  keys_ = std::move(found);
  loaded_at_ = std::chrono::steady_clock::now();
  return Status::Ok();
}

void Pkcs11Kms::ReloadIfDue() const {
  constexpr auto kLookEvery = std::chrono::seconds(1);
  {
    std::shared_lock lock(mu_);
    if (std::chrono::steady_clock::now() - loaded_at_ < kLookEvery) return;
  }
  // A cache of the token's key list: re-reading it changes no promise.
  auto* self = const_cast<Pkcs11Kms*>(this);
  std::unique_lock lock(mu_);
  if (std::chrono::steady_clock::now() - loaded_at_ < kLookEvery) return;
  if (!self->LoadKeys().ok()) self->loaded_at_ = std::chrono::steady_clock::now();
}

Result<unsigned long> Pkcs11Kms::Generate(uint32_t version) {
  Session s(*this);
  AIFS_RETURN_IF_ERROR(s.Open());
  const std::string label = Label(version);
  const int64_t created = NowUnixNanos();
  std::array<uint8_t, 8> id;
  for (int i = 0; i < 8; ++i) id[i] = static_cast<uint8_t>(static_cast<uint64_t>(created) >> (56 - 8 * i));
  ck_object_class_t cls = CKO_SECRET_KEY;
  ck_key_type_t type = CKK_AES;
  unsigned long length = sizeof(AesKey);
  unsigned char yes = kCkTrue, no = kCkFalse;
  // Encrypt/decrypt only (the wrap is C_Encrypt of the data key, see the
  // header); never readable, never exported, never changed.
  ck_attribute t[] = {
      Attr(CKA_CLASS, &cls, sizeof cls),       Attr(CKA_KEY_TYPE, &type, sizeof type),
      Attr(CKA_VALUE_LEN, &length, sizeof length),
      Attr(CKA_TOKEN, &yes, 1),                Attr(CKA_PRIVATE, &yes, 1),
      Attr(CKA_SENSITIVE, &yes, 1),            Attr(CKA_EXTRACTABLE, &no, 1),
      Attr(CKA_ENCRYPT, &yes, 1),              Attr(CKA_DECRYPT, &yes, 1),
      Attr(CKA_WRAP, &no, 1),                  Attr(CKA_UNWRAP, &no, 1),
      Attr(CKA_SIGN, &no, 1),                  Attr(CKA_VERIFY, &no, 1),
      Attr(CKA_DERIVE, &no, 1),                Attr(CKA_MODIFIABLE, &no, 1),
      Attr(CKA_LABEL, const_cast<char*>(label.data()), label.size()),
      Attr(CKA_ID, id.data(), id.size()),
  };
  ck_mechanism mech{CKM_AES_KEY_GEN, nullptr, 0};
  ck_object_handle_t h = 0;
  const ck_rv_t rv =
      s.Check(s.fn().C_GenerateKey(s.h(), &mech, t, sizeof t / sizeof t[0], &h));
  if (rv != CKR_OK) return CkError(rv, "C_GenerateKey of " + label);
  keys_[version] = {h, created};
  return h;
}

std::string Pkcs11Kms::KeyId(uint32_t version) const { return "pkcs11:" + Label(version); }

Result<uint32_t> Pkcs11Kms::VersionOf(std::string_view key_id) const {
  const std::string prefix = "pkcs11:" + url_.object + "-v";
  const std::string_view digits =
      key_id.starts_with(prefix) ? key_id.substr(prefix.size()) : std::string_view();
  if (digits.empty() || digits.size() > 9 || digits[0] == '0' ||
      digits.find_first_not_of("0123456789") != std::string_view::npos)
    return err::FailedPrecondition("KMS_KEY_UNAVAILABLE",
                                   "key " + std::string(key_id) + " is not a key of this KMS (" +
                                       prefix + "N on token '" + url_.token + "')");
  return static_cast<uint32_t>(std::stoul(std::string(digits)));
}

Result<unsigned long> Pkcs11Kms::Handle(uint32_t version, bool refresh) {
  if (!refresh) {
    std::shared_lock lock(mu_);
    auto it = keys_.find(version);
    if (it != keys_.end()) return it->second.handle;
  }
  // Unknown or stale: ask the token (another process may have rotated, or
  // the key was destroyed).
  Session s(*this);
  AIFS_RETURN_IF_ERROR(s.Open());
  const std::string label = Label(version);
  AIFS_ASSIGN_OR_RETURN(auto handles, s.FindKeys(&label));
  std::unique_lock lock(mu_);
  if (handles.empty()) {
    keys_.erase(version);
    return err::FailedPrecondition("KMS_KEY_UNAVAILABLE",
                                   "key " + KeyId(version) + " is not on token '" + url_.token +
                                       "' (destroyed, or another token)");
  }
  auto& k = keys_[version];
  k.handle = handles.front();
  return k.handle;
}

Result<Bytes> Pkcs11Kms::Gcm(bool encrypt, uint32_t version, ByteSpan iv, ByteSpan aad,
                             ByteSpan input) {
  Session s(*this);
  AIFS_RETURN_IF_ERROR(s.Open());
  ck_function_list& fn = s.fn();
  for (int attempt = 0;; ++attempt) {
    AIFS_ASSIGN_OR_RETURN(unsigned long key, Handle(version, attempt > 0));
    ck_gcm_params p{};
    p.iv_ptr = const_cast<uint8_t*>(iv.data());
    p.iv_len = iv.size();
    p.iv_bits = iv.size() * 8;  // some tokens read the bits, SoftHSM2 the length
    p.aad_ptr = const_cast<uint8_t*>(aad.data());
    p.aad_len = aad.size();
    p.tag_bits = kTagBits;
    ck_mechanism mech{CKM_AES_GCM, &p, sizeof p};
    ck_rv_t rv = s.Check(encrypt ? fn.C_EncryptInit(s.h(), &mech, key)
                                 : fn.C_DecryptInit(s.h(), &mech, key));
    if (IsStaleKey(rv) && attempt == 0) continue;
    if (IsStaleKey(rv))
      return err::FailedPrecondition("KMS_KEY_UNAVAILABLE", "key " + KeyId(version) + " is gone");
    if (rv != CKR_OK) return CkError(rv, encrypt ? "C_EncryptInit" : "C_DecryptInit");
    // Room for ciphertext + tag; a decryption needs at most its input.
    Bytes out(input.size() + kTagBits / 8);
    unsigned long n = out.size();
    auto* in = const_cast<uint8_t*>(input.data());
    rv = s.Check(encrypt ? fn.C_Encrypt(s.h(), in, input.size(), out.data(), &n)
                         : fn.C_Decrypt(s.h(), in, input.size(), out.data(), &n));
    if (rv != CKR_OK) {
      SecureWipe(out.data(), out.size());
      // A tag that does not verify: the blob or its context was altered.
      if (!encrypt && (rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE ||
                       rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED))
        return err::DataLoss("KEY_UNWRAP_FAILED",
                             "wrapped key did not authenticate under " + KeyId(version) + " (" +
                                 RvName(rv) + ")");
      return CkError(rv, encrypt ? "C_Encrypt" : "C_Decrypt");
    }
    out.resize(n);
    return out;
  }
}

std::string Pkcs11Kms::CurrentKeyId() const {
  ReloadIfDue();
  std::shared_lock lock(mu_);
  return keys_.empty() ? std::string() : KeyId(keys_.rbegin()->first);
}

std::vector<KmsKeyInfo> Pkcs11Kms::ListKeys() const {
  ReloadIfDue();
  std::shared_lock lock(mu_);
  std::vector<KmsKeyInfo> out;
  for (const auto& [v, k] : keys_) out.push_back({KeyId(v), k.created_unix_ns, false});
  if (!out.empty()) out.back().current = true;
  return out;
}

Result<WrappedKey> Pkcs11Kms::WrapWith(std::string_view key_id, const AesKey& data_key,
                                       ByteSpan context) {
  auto version = VersionOf(key_id);
  bool known = false;
  if (version.ok()) {
    std::shared_lock lock(mu_);
    known = keys_.count(*version) > 0;
  }
  if (version.ok() && !known)  // another server may have made it
    known = Handle(*version, /*refresh=*/true).ok();
  if (!known)
    return err::NotFound("KMS_KEY_NOT_FOUND", "the pkcs11 KMS has no key " + std::string(key_id));
  std::array<uint8_t, kIvSize> iv;
  AIFS_RETURN_IF_ERROR(SecureRandom(iv));
  AIFS_ASSIGN_OR_RETURN(Bytes sealed,
                        Gcm(true, *version, iv, KmsWrapAad(key_id, context), data_key));
  if (sealed.size() != kBlobSize - kIvSize)
    return err::Unavailable("KMS_UNAVAILABLE", "the token returned " +
                                                   std::to_string(sealed.size()) +
                                                   " bytes for a wrapped key");
  WrappedKey w{std::string(key_id), Bytes(kBlobSize)};
  std::memcpy(w.blob.data(), iv.data(), kIvSize);
  std::memcpy(w.blob.data() + kIvSize, sealed.data(), sealed.size());
  return w;
}

Result<AesKey> Pkcs11Kms::Unwrap(std::string_view key_id, ByteSpan blob, ByteSpan context) {
  AIFS_ASSIGN_OR_RETURN(uint32_t version, VersionOf(key_id));
  if (blob.size() != kBlobSize)
    return err::DataLoss("KEY_UNWRAP_FAILED", "wrapped key has the wrong length");
  AIFS_ASSIGN_OR_RETURN(Bytes plain, Gcm(false, version, blob.subspan(0, kIvSize),
                                         KmsWrapAad(key_id, context), blob.subspan(kIvSize)));
  AesKey key;
  const bool good = plain.size() == key.size();
  if (good) std::memcpy(key.data(), plain.data(), key.size());
  SecureWipe(plain.data(), plain.size());
  if (!good) return err::DataLoss("KEY_UNWRAP_FAILED", "unwrapped key has the wrong length");
  return key;
}

Result<std::string> Pkcs11Kms::Rotate() {
  std::unique_lock lock(mu_);
  AIFS_RETURN_IF_ERROR(LoadKeys());  // the token is the record: see what it has now
  const uint32_t next = keys_.empty() ? 1 : keys_.rbegin()->first + 1;
  AIFS_RETURN_IF_ERROR(Generate(next).status());
  return KeyId(next);
}

Status Pkcs11Kms::DestroyKey(std::string_view key_id) {
  AIFS_ASSIGN_OR_RETURN(uint32_t version, VersionOf(key_id));
  AIFS_ASSIGN_OR_RETURN(unsigned long handle, Handle(version, true));
  std::unique_lock lock(mu_);
  if (!keys_.empty() && keys_.rbegin()->first == version)
    return err::FailedPrecondition("KMS_KEY_CURRENT",
                                   "key " + std::string(key_id) + " is current; rotate first");
  Session s(*this);
  AIFS_RETURN_IF_ERROR(s.Open());
  const ck_rv_t rv = s.Check(s.fn().C_DestroyObject(s.h(), handle));
  if (rv != CKR_OK) return CkError(rv, "C_DestroyObject of " + Label(version));
  keys_.erase(version);
  return Status::Ok();
}

}  // namespace aifs
