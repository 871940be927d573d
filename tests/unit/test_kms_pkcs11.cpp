// The PKCS#11 KMS against a real SoftHSM2 token that each test initialises in
// a temporary directory, and key rotation + rewrap (both KMS backends),
// including a rewrap killed midway. Skipped only when SoftHSM2 is not
// installed (scripts/install-deps.sh installs it).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <thread>

#include "aifs/auth/root_keys.h"
#include "aifs/core/random.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/meta_store.h"
#include "aifs/meta/records.h"
#include "aifs/storage/chunk_sealer.h"
#include "aifs/storage/kms/pkcs11_kms.h"
#include "test_util.h"

namespace aifs::test {
namespace {

constexpr const char* kModule = "/usr/lib/softhsm/libsofthsm2.so";
constexpr const char* kUtil = "/usr/bin/softhsm2-util";
// Long and unlikely, so a scan for it cannot hit by chance.
constexpr const char* kPin = "pin-5c0ffee-d1ce-7e57-a1f5";

void WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
  }
  ::chmod(path.c_str(), mode);
}

// A SoftHSM2 token of its own: config, token directory and PIN file in a
// temporary directory, selected through SOFTHSM2_CONF.
class SoftHsm {
 public:
  static bool Available() { return ::access(kModule, R_OK) == 0 && ::access(kUtil, X_OK) == 0; }

  explicit SoftHsm(const std::string& token = "aifs-test") : token_(token) {
    fs::create_directories(dir_.Sub("tokens"));
    WriteFile(dir_.Sub("softhsm2.conf"),
              "directories.tokendir = " + dir_.Sub("tokens") +
                  "\nobjectstore.backend = file\nlog.level = ERROR\n",
              0600);
    ::setenv("SOFTHSM2_CONF", dir_.Sub("softhsm2.conf").c_str(), 1);
    const std::string cmd = std::string(kUtil) + " --init-token --free --label " + token +
                            " --pin " + kPin + " --so-pin so-" + kPin + " >/dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    WriteFile(PinFile(), std::string(kPin) + "\n", 0600);
  }
  std::string PinFile() const { return dir_.Sub("pin"); }
  std::string Url(const std::string& pin_source = "") const {
    return "pkcs11:token=" + token_ + ";object=aifs-kek?module-path=" + kModule +
           "&pin-source=" + (pin_source.empty() ? "file:" + PinFile() : pin_source);
  }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  std::string token_;
};

class Pkcs11Test : public EngineFixture {
 protected:
  void SetUp() override {
    if (!SoftHsm::Available()) GTEST_SKIP() << "SoftHSM2 is not installed (scripts/install-deps.sh)";
    hsm_ = std::make_unique<SoftHsm>();
  }
  // The store closes (and logs out) before its token directory goes.
  void TearDown() override { engine_.reset(); }
  InitOptions Pkcs11Init() {
    InitOptions o = SmallInit();
    o.kms_url = hsm_->Url();
    return o;
  }
  // Every chunk record of the store, read beside (or without) the engine.
  std::vector<std::pair<std::string, store::v1::ChunkRecord>> ChunkRecords() {
    std::vector<std::pair<std::string, store::v1::ChunkRecord>> out;
    auto meta = OpenMetaStore("rocksdb://" + dir_.Sub("meta"), MetaOpenOptions{.read_only = true});
    EXPECT_TRUE(meta.ok()) << meta.status().ToString();
    if (!meta.ok()) return out;
    AIFS_EXPECT_OK((*meta)->Scan(keys::kChunkPrefixAll, PrefixEnd(keys::kChunkPrefixAll),
                                 [&](std::string_view k, std::string_view v) {
                                   store::v1::ChunkRecord rec;
                                   EXPECT_TRUE(rec.ParseFromArray(v.data(), v.size()));
                                   out.emplace_back(std::string(k), rec);
                                   return true;
                                 }));
    return out;
  }
  std::map<std::string, int> ChunksPerKey() {
    std::map<std::string, int> n;
    for (const auto& [k, rec] : ChunkRecords()) ++n[rec.kms_key_id()];
    return n;
  }

  std::unique_ptr<SoftHsm> hsm_;
};

// ------------------------------------------------------------------ the KMS

TEST(Pkcs11Url, ParsesAndRefusesPinValues) {
  auto u = ParsePkcs11Url(
      "pkcs11:token=my%20hsm;object=k?module-path=/lib/x.so&pin-source=env:P");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->token, "my hsm");
  EXPECT_EQ(u->object, "k");
  EXPECT_EQ(u->module_path, "/lib/x.so");
  EXPECT_EQ(u->pin_source, "env:P");
  auto d = ParsePkcs11Url("pkcs11:token=t?module-path=/lib/x.so");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->object, "aifs-kek");
  EXPECT_EQ(d->pin_source, "env:AIFS_PKCS11_PIN");
  AIFS_EXPECT_STATUS(ParsePkcs11Url("pkcs11:token=t?module-path=/x.so&pin-value=1").status(),
                     kInvalidArgument, "KMS_PIN_IN_URL");
  AIFS_EXPECT_STATUS(ParsePkcs11Url("pkcs11:object=k?module-path=/x.so").status(),
                     kInvalidArgument, "BAD_KMS_URL");
  AIFS_EXPECT_STATUS(ParsePkcs11Url("pkcs11:token=t").status(), kInvalidArgument, "BAD_KMS_URL");
  AIFS_EXPECT_STATUS(ParsePkcs11Url("pkcs11:token=t;slot-id=1?module-path=/x.so").status(),
                     kInvalidArgument, "BAD_KMS_URL");
  AIFS_EXPECT_STATUS(ParsePkcs11Url("pkcs11:token=%zz?module-path=/x.so").status(),
                     kInvalidArgument, "BAD_KMS_URL");
}

TEST_F(Pkcs11Test, WrapsOnTheTokenBoundToKeyAndContext) {
  AIFS_EXPECT_STATUS(OpenKms(hsm_->Url(), false).status(), kNotFound, "KMS_KEY_NOT_FOUND");
  auto kms = OpenKms(hsm_->Url(), true);
  ASSERT_TRUE(kms.ok()) << kms.status().ToString();
  EXPECT_EQ((*kms)->Kind(), "pkcs11");
  EXPECT_EQ((*kms)->CurrentKeyId(), "pkcs11:aifs-kek-v1");
  AesKey key;
  AIFS_ASSERT_OK(SecureRandom(key));
  const Bytes ctx = ToBytes("chunk context");
  auto w = (*kms)->Wrap(key, ctx);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->key_id, "pkcs11:aifs-kek-v1");
  EXPECT_EQ(w->blob.size(), 12u + 32u + 16u);
  EXPECT_EQ(std::search(w->blob.begin(), w->blob.end(), key.begin(), key.end()), w->blob.end());
  auto back = (*kms)->Unwrap(w->key_id, w->blob, ctx);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, key);
  // Another context, a flipped bit, another version's ID: never a key.
  AIFS_EXPECT_STATUS((*kms)->Unwrap(w->key_id, w->blob, ToBytes("other")).status(), kDataLoss,
                     "KEY_UNWRAP_FAILED");
  Bytes bad = w->blob;
  bad[20] ^= 1;
  AIFS_EXPECT_STATUS((*kms)->Unwrap(w->key_id, bad, ctx).status(), kDataLoss, "KEY_UNWRAP_FAILED");
  AIFS_EXPECT_STATUS((*kms)->Unwrap("pkcs11:aifs-kek-v7", w->blob, ctx).status(),
                     kFailedPrecondition, "KMS_KEY_UNAVAILABLE");
  AIFS_EXPECT_STATUS((*kms)->Unwrap("local:v1", w->blob, ctx).status(), kFailedPrecondition,
                     "KMS_KEY_UNAVAILABLE");
  AIFS_EXPECT_STATUS((*kms)->WrapWith("pkcs11:aifs-kek-v9", key, ctx).status(), kNotFound,
                     "KMS_KEY_NOT_FOUND");

  // Many threads at once: each operation borrows its own session.
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        AesKey k{};
        k[0] = static_cast<uint8_t>(t);
        k[1] = static_cast<uint8_t>(i);
        auto wi = (*kms)->Wrap(k, ctx);
        if (!wi.ok()) continue;
        auto bi = (*kms)->Unwrap(wi->key_id, wi->blob, ctx);
        if (bi.ok() && *bi == k) ++good;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 200);

  // Rotation: new wraps use v2, v1 blobs still open; a second instance in the
  // same process (sharing the module and login) sees both.
  auto v2 = (*kms)->Rotate();
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(*v2, "pkcs11:aifs-kek-v2");
  EXPECT_EQ((*kms)->Wrap(key, ctx)->key_id, "pkcs11:aifs-kek-v2");
  auto again = OpenKms(hsm_->Url(), false);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)->CurrentKeyId(), "pkcs11:aifs-kek-v2");
  ASSERT_EQ((*again)->ListKeys().size(), 2u);
  EXPECT_GT((*again)->ListKeys()[0].created_unix_ns, 0);
  EXPECT_EQ(*(*again)->Unwrap(w->key_id, w->blob, ctx), key);
  // ...but not with another PIN, even though the process is logged in.
  WriteFile(hsm_->dir().Sub("wrong"), "not-the-pin", 0600);
  AIFS_EXPECT_STATUS(OpenKms(hsm_->Url("file:" + hsm_->dir().Sub("wrong")), false).status(),
                     kPermissionDenied, "KMS_PIN_INCORRECT");
}

// Two servers on one token (two instances standing for two processes): a
// rotation through one is used by the other, at once for a version named,
// within a second as the current one.
TEST_F(Pkcs11Test, RotationThroughOneInstanceReachesAnother) {
  auto a = OpenKms(hsm_->Url(), true);
  auto b = OpenKms(hsm_->Url(), false);
  ASSERT_TRUE(a.ok() && b.ok());
  auto v2 = (*a)->Rotate();
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  AesKey key;
  AIFS_ASSERT_OK(SecureRandom(key));
  const Bytes ctx = ToBytes("chunk context");
  auto w = (*b)->WrapWith(*v2, key, ctx);  // b had never heard of v2
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  auto back = (*a)->Unwrap(w->key_id, w->blob, ctx);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, key);
  const auto t0 = std::chrono::steady_clock::now();
  while ((*b)->CurrentKeyId() != *v2 &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ((*b)->CurrentKeyId(), *v2);
  auto v3 = (*b)->Rotate();  // on the token as it is: v3, not a second v2
  ASSERT_TRUE(v3.ok());
  EXPECT_EQ(*v3, "pkcs11:aifs-kek-v3");
}

TEST_F(Pkcs11Test, ClearReasonsWhenTheTokenIsOutOfReach) {
  ASSERT_TRUE(OpenKms(hsm_->Url(), true).ok());  // closed again at once
  WriteFile(hsm_->dir().Sub("wrong"), "not-the-pin\n", 0600);
  AIFS_EXPECT_STATUS(OpenKms(hsm_->Url("file:" + hsm_->dir().Sub("wrong")), false).status(),
                     kPermissionDenied, "KMS_PIN_INCORRECT");
  WriteFile(hsm_->dir().Sub("open"), kPin, 0644);
  AIFS_EXPECT_STATUS(OpenKms(hsm_->Url("file:" + hsm_->dir().Sub("open")), false).status(),
                     kFailedPrecondition, "KMS_PIN_INSECURE");
  AIFS_EXPECT_STATUS(OpenKms(hsm_->Url("file:" + hsm_->dir().Sub("none")), false).status(),
                     kFailedPrecondition, "KMS_PIN_UNAVAILABLE");
  ::unsetenv("AIFS_TEST_NO_SUCH_PIN");
  AIFS_EXPECT_STATUS(OpenKms(hsm_->Url("env:AIFS_TEST_NO_SUCH_PIN"), false).status(),
                     kFailedPrecondition, "KMS_PIN_UNAVAILABLE");
  ::setenv("AIFS_TEST_PIN", kPin, 1);
  EXPECT_TRUE(OpenKms(hsm_->Url("env:AIFS_TEST_PIN"), false).ok());
  ::unsetenv("AIFS_TEST_PIN");
  std::string url = hsm_->Url();
  AIFS_EXPECT_STATUS(OpenKms("pkcs11:token=nope" + url.substr(url.find(';')), false).status(),
                     kUnavailable, "KMS_TOKEN_NOT_FOUND");
  url.replace(url.find(kModule), std::strlen(kModule), "/nonexistent/libpkcs11.so");
  AIFS_EXPECT_STATUS(OpenKms(url, false).status(), kUnavailable, "KMS_UNAVAILABLE");
}

// ------------------------------------------------------------- the engine

TEST_F(Pkcs11Test, StoreRoundTripAndRestart) {
  InitStore(Pkcs11Init());
  const Bytes data = TextBytes(300000, 1);
  const AssetId id = MustPut(data).asset.id;
  EXPECT_EQ(MustRead(id), data);
  auto d = engine().DescribeStore();
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kms_kind, "pkcs11");
  EXPECT_EQ(d->kms_current_key, "pkcs11:aifs-kek-v1");
  AIFS_EXPECT_OK(engine().CheckHealth());
  Reopen();  // a restart: module, token and login found again
  EXPECT_EQ(MustRead(id), data);
  auto v = engine().VerifyAsset("default", id);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  AIFS_EXPECT_OK(v->result);
  for (const auto& [k, n] : ChunksPerKey()) EXPECT_EQ(k, "pkcs11:aifs-kek-v1") << n;

  // The wrong PIN: the store does not open, with the reason.
  engine_.reset();
  WriteFile(hsm_->PinFile(), "not-the-pin", 0600);
  EngineOptions eo;
  eo.data_dir = dir_.path();
  AIFS_EXPECT_STATUS(Engine::Open(eo).status(), kPermissionDenied, "KMS_PIN_INCORRECT");
}

TEST_F(Pkcs11Test, RotateThenRewrapMovesEveryKeyAndOldVersionCanGo) {
  InitStore(Pkcs11Init());
  const Bytes a = TextBytes(200000, 2), b = RandomBytes(150000, 3);
  const AssetId ida = MustPut(a).asset.id;
  // A token root key, wrapped by v1 like everything else so far.
  auto root = auth::RootKeyStore(*engine().store().meta, *engine().store().kms).Rotate();
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  auto rotated = engine().RotateKey();
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  EXPECT_EQ(*rotated, "pkcs11:aifs-kek-v2");
  const AssetId idb = MustPut(b).asset.id;
  auto before = ChunksPerKey();
  ASSERT_EQ(before.size(), 2u);
  const int old_chunks = before["pkcs11:aifs-kek-v1"];
  ASSERT_GT(old_chunks, 2);

  auto r = engine().RewrapKeys({}, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->complete);
  EXPECT_FALSE(r->resumed);
  EXPECT_EQ(r->target_key, "pkcs11:aifs-kek-v2");
  EXPECT_EQ(r->chunks_rewrapped, static_cast<uint64_t>(old_chunks));
  EXPECT_EQ(r->chunks_scanned, static_cast<uint64_t>(old_chunks + before["pkcs11:aifs-kek-v2"]));
  EXPECT_EQ(r->namespaces_rewrapped, 1u);
  EXPECT_EQ(r->root_keys_rewrapped, 1u);
  EXPECT_EQ(ChunksPerKey(), (std::map<std::string, int>{{"pkcs11:aifs-kek-v2", static_cast<int>(r->chunks_scanned)}}));
  // A second run has nothing left to do.
  auto again = engine().RewrapKeys({}, nullptr);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->chunks_rewrapped, 0u);
  EXPECT_EQ(again->namespaces_rewrapped, 0u);
  EXPECT_EQ(again->root_keys_rewrapped, 0u);

  // With every key moved, v1 can be destroyed and everything still reads,
  // snapshots still sign.
  engine_.reset();
  {
    auto kms = Pkcs11Kms::Open(hsm_->Url(), false);
    ASSERT_TRUE(kms.ok());
    AIFS_EXPECT_STATUS((*kms)->DestroyKey("pkcs11:aifs-kek-v2"), kFailedPrecondition,
                       "KMS_KEY_CURRENT");
    AIFS_ASSERT_OK((*kms)->DestroyKey("pkcs11:aifs-kek-v1"));
  }
  Reopen();
  EXPECT_EQ(MustRead(ida), a);
  EXPECT_EQ(MustRead(idb), b);
  auto snap = engine().CreateSnapshot("default", {});
  EXPECT_TRUE(snap.ok()) << snap.status().ToString();
  // The token root key still unwraps: tokens keep verifying.
  auto again_root = auth::RootKeyStore(*engine().store().meta, *engine().store().kms).Get(root->id);
  ASSERT_TRUE(again_root.ok()) << again_root.status().ToString();
  EXPECT_EQ(again_root->secret, root->secret);
}

TEST_F(Pkcs11Test, KeyGoneFromTheTokenFailsReadsWithTheReason) {
  InitStore(Pkcs11Init());
  const Bytes a = RandomBytes(200000, 4);
  const AssetId ida = MustPut(a).asset.id;
  ASSERT_TRUE(engine().RotateKey().ok());
  const Bytes b = RandomBytes(100000, 5);
  const AssetId idb = MustPut(b).asset.id;
  engine_.reset();
  {
    auto kms = Pkcs11Kms::Open(hsm_->Url(), false);
    ASSERT_TRUE(kms.ok());
    AIFS_ASSERT_OK((*kms)->DestroyKey("pkcs11:aifs-kek-v1"));
  }
  Reopen();
  Bytes got;
  Status st = engine().ReadAsset("default", ida, {}, [&](ByteSpan s) {
    got.insert(got.end(), s.begin(), s.end());
    return Status::Ok();
  });
  AIFS_EXPECT_STATUS(st, kFailedPrecondition, "KMS_KEY_UNAVAILABLE");
  EXPECT_TRUE(got.empty()) << got.size() << " bytes delivered from a chunk whose key is gone";
  auto verify = engine().VerifyAsset("default", ida);
  ASSERT_TRUE(verify.ok()) << verify.status().ToString();
  AIFS_EXPECT_STATUS(verify->result, kFailedPrecondition, "KMS_KEY_UNAVAILABLE");
  EXPECT_EQ(MustRead(idb), b);  // the other version is unaffected
  // Rewrap cannot move what it cannot unwrap: it stops with the reason.
  AIFS_EXPECT_STATUS(engine().RewrapKeys({}, nullptr).status(), kFailedPrecondition,
                     "KMS_KEY_UNAVAILABLE");
}

TEST_F(Pkcs11Test, NoKeyOrPinInPlaintextInTheDataDirectory) {
  InitStore(Pkcs11Init());
  const std::string marker = "PLAINTEXT-MARKER-that-must-never-be-stored-in-clear-0123456789";
  Bytes data = TextBytes(400000, 6);
  for (size_t off = 0; off + marker.size() < data.size(); off += 50000)
    std::copy(marker.begin(), marker.end(), data.begin() + static_cast<ptrdiff_t>(off));
  MustPut(data);
  ASSERT_TRUE(engine().RotateKey().ok());
  MustPut(RandomBytes(100000, 7));
  ASSERT_TRUE(engine().RewrapKeys({.batch_size = 3}, nullptr).ok());
  ASSERT_TRUE(engine().CreateSnapshot("default", {}).ok());
  engine_.reset();

  // Every data key, unwrapped through the token.
  auto kms = OpenKms(hsm_->Url(), false);
  ASSERT_TRUE(kms.ok());
  std::vector<Bytes> needles;
  for (const auto& [key, rec] : ChunkRecords()) {
    const std::string rest = key.substr(keys::kChunkPrefixAll.size());
    const std::string ns = rest.substr(0, rest.find('/'));
    auto hash = HexDecode(rest.substr(rest.find('/') + 1));
    ASSERT_TRUE(hash && hash->size() == 32);
    Digest d;
    std::copy(hash->begin(), hash->end(), d.begin());
    auto dk = UnwrapChunkKey(**kms, ns, d, rec);
    ASSERT_TRUE(dk.ok()) << dk.status().ToString();
    needles.emplace_back(dk->begin(), dk->end());
    const std::string hex = HexEncode(*dk);
    needles.emplace_back(hex.begin(), hex.end());
  }
  ASSERT_GT(needles.size(), 10u);
  needles.push_back(ToBytes(kPin));
  needles.push_back(ToBytes(marker));

  size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir_.path())) {
    if (!entry.is_regular_file()) continue;
    ++files;
    std::ifstream f(entry.path(), std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    for (const Bytes& n : needles)
      EXPECT_EQ(text.find(std::string(n.begin(), n.end())), std::string::npos)
          << "secret or plaintext found in " << entry.path();
  }
  EXPECT_GT(files, 5u);
  std::cout << "REPORT scanned " << files << " files for " << needles.size()
            << " secrets (data keys raw and hex, PIN, plaintext): none found\n";
}

// ---------------------------------------------------- rewrap, resumable

TEST_F(EngineFixture, LocalKmsRotateAndResumableRewrap) {
  InitStore();
  std::vector<std::pair<AssetId, Bytes>> assets;
  for (int i = 0; i < 3; ++i) {
    Bytes d = RandomBytes(120000, 100 + i);
    assets.emplace_back(MustPut(d).asset.id, d);
  }
  auto v2 = engine().RotateKey();
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(*v2, "local:v2");
  // Stopped after a few chunks: not complete; the next run resumes.
  auto part = engine().RewrapKeys({.batch_size = 2, .max_chunks = 3}, nullptr);
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  EXPECT_FALSE(part->complete);
  EXPECT_GE(part->chunks_rewrapped, 3u);
  EXPECT_LE(part->chunks_rewrapped, 4u);
  Reopen();
  int batches = 0;
  auto rest = engine().RewrapKeys({.batch_size = 2}, [&](const RewrapReport&) { ++batches; });
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  EXPECT_TRUE(rest->resumed);
  EXPECT_TRUE(rest->complete);
  EXPECT_GT(batches, 1);
  uint64_t total = 0;
  for (const auto& [id, d] : assets) {
    auto info = engine().StatAsset("default", id, true);
    ASSERT_TRUE(info.ok());
    for (const ChunkInfo& c : info->chunks) EXPECT_EQ(c.kms_key_id, "local:v2");
    total += info->chunks.size();
    EXPECT_EQ(MustRead(id), d);
  }
  EXPECT_EQ(rest->chunks_rewrapped, total);  // totals carry over from the stopped run
  AIFS_EXPECT_STATUS(engine().RewrapKeys({.batch_size = 0}, nullptr).status(), kInvalidArgument,
                     "BAD_BATCH_SIZE");
}

// ------------------------------------------------ rewrap killed midway

TEST_F(Pkcs11Test, RewrapKilledMidwayResumes) {
  InitStore(Pkcs11Init());
  std::vector<std::pair<AssetId, Bytes>> assets;
  for (int i = 0; i < 4; ++i) {
    Bytes d = RandomBytes(150000, 200 + i);
    assets.emplace_back(MustPut(d).asset.id, d);
  }
  ASSERT_TRUE(engine().RotateKey().ok());
  const int chunks = ChunksPerKey()["pkcs11:aifs-kek-v1"];
  ASSERT_GT(chunks, 12);
  engine_.reset();  // the victim opens the store (and token) alone

  // Killed after its fifth committed batch, while working on the next.
  const KilledRewrap killed = KillRewrapMidway(dir_.path(), 5);
  ASSERT_EQ(killed.batches_seen, 5) << "the victim stopped early, status " << killed.wait_status;
  ASSERT_TRUE(WIFSIGNALED(killed.wait_status)) << "the victim finished before it was killed";

  // Midway: some moved, some not, and every chunk still reads.
  auto mid = ChunksPerKey();
  EXPECT_GE(mid["pkcs11:aifs-kek-v2"], 5);
  EXPECT_GT(mid["pkcs11:aifs-kek-v1"], 0);
  std::cout << "REPORT rewrap killed with " << mid["pkcs11:aifs-kek-v2"] << " of " << chunks
            << " chunk keys moved\n";
  Reopen();
  for (const auto& [id, d] : assets) EXPECT_EQ(MustRead(id), d);

  auto r = engine().RewrapKeys({.batch_size = 4}, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->resumed);
  EXPECT_TRUE(r->complete);
  EXPECT_EQ(r->chunks_rewrapped, static_cast<uint64_t>(chunks));
  EXPECT_EQ(ChunksPerKey(), (std::map<std::string, int>{{"pkcs11:aifs-kek-v2", chunks}}));
  for (const auto& [id, d] : assets) {
    EXPECT_EQ(MustRead(id), d);
    auto v = engine().VerifyAsset("default", id);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    AIFS_EXPECT_OK(v->result);
  }
}

}  // namespace
}  // namespace aifs::test
