// The engine as the Gate (api/caller.h): the rules every face shares, tokens
// and pre-signed URLs admitted into a CheckedApi, and what that Api refuses.
#include <thread>

#include "aifs/auth/access_rules.h"
#include "aifs/auth/macaroon.h"
#include "aifs/auth/url_signature.h"
#include "aifs/engine/caller_api.h"
#include "test_util.h"

namespace aifs::test {
namespace {

// The claim a signed path-and-query makes (the HTTP plane reads the same
// fields off the URL).
UrlClaim ClaimOf(const SignedUrl& url) {
  UrlClaim c;
  const std::string& pq = url.path_and_query;
  const size_t q = pq.find('?');
  const std::string path = pq.substr(0, q);  // /v1/assets/NS/ID
  const size_t id_at = path.rfind('/');
  c.id_hex = path.substr(id_at + 1);
  c.ns = path.substr(std::string("/v1/assets/").size(), id_at - std::string("/v1/assets/").size());
  std::string rest = pq.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string kv = rest.substr(0, amp);
    rest = amp == std::string::npos ? "" : rest.substr(amp + 1);
    const size_t eq = kv.find('=');
    const std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
    if (k == "as_of") c.as_of = v;
    if (k == "name") c.file_name = v;
    if (k == "exp") c.expires = v;
    if (k == "kid") c.key_id = v;
    if (k == "sig") c.signature = v;
  }
  return c;
}

class CallerApiTest : public EngineFixture {
 protected:
  void SetUp() override {
    InitStore();
    AIFS_ASSERT_OK(engine().RotateTokenRoot({}).status());
    AIFS_ASSERT_OK(engine().CreateNamespace("alpha", {}).status());
    AIFS_ASSERT_OK(engine().CreateNamespace("beta", {}).status());
  }
  std::unique_ptr<CallerApi> As(const std::vector<std::string>& caveats) {
    auto token = engine().MintToken(caveats);
    EXPECT_TRUE(token.ok()) << token.status().ToString();
    auto api = engine().Admit(*token);
    EXPECT_TRUE(api.ok()) << api.status().ToString();
    return api.ok() ? std::move(*api) : nullptr;
  }
};

TEST(AccessRules, EveryOperationHasARuleNoTokenCanExceed) {
  int n = 0;
#define AIFS_CHECK_RULE(e, name)                            \
  {                                                         \
    const auth::AccessRule r = auth::RuleFor(Operation::e); \
    EXPECT_EQ(r.ops & ~auth::kAllOps, 0u) << name;          \
    EXPECT_EQ(OperationName(Operation::e), name);           \
    ++n;                                                    \
  }
  AIFS_OPERATIONS(AIFS_CHECK_RULE)
#undef AIFS_CHECK_RULE
  EXPECT_GE(n, 60);
  // Spot checks of the table's intent.
  EXPECT_EQ(auth::RuleFor(Operation::kReadAsset).ops, auth::kOpGet);
  EXPECT_EQ(auth::RuleFor(Operation::kSignUrl).ops, auth::kOpGet);
  EXPECT_EQ(auth::RuleFor(Operation::kMintToken).scope, auth::Access::Scope::kStore);
  EXPECT_EQ(auth::RuleFor(Operation::kListNamespaces).scope, auth::Access::Scope::kListing);
}

TEST_F(CallerApiTest, AdmitRefusesWhatProvesNothing) {
  AIFS_EXPECT_STATUS(engine().Admit("").status(), kUnauthenticated, "TOKEN_MISSING");
  AIFS_EXPECT_STATUS(engine().Admit("garbage").status(), kUnauthenticated, "TOKEN_MALFORMED");
  auto expired = engine().MintToken({"expires < 2001-01-01T00:00:00Z"});
  ASSERT_TRUE(expired.ok());
  AIFS_EXPECT_STATUS(engine().Admit(*expired).status(), kPermissionDenied, "TOKEN_EXPIRED");
  auto token = engine().MintToken({});
  ASSERT_TRUE(token.ok());
  AIFS_ASSERT_OK(engine().RevokeToken(*token));
  AIFS_EXPECT_STATUS(engine().Admit(*token).status(), kUnauthenticated, "TOKEN_REVOKED");
}

TEST_F(CallerApiTest, EveryCallIsCheckedAndListingsAreFiltered) {
  auto alpha = As({"ns = alpha", "ops = list,get,put"});
  ASSERT_TRUE(alpha);
  auto listed = alpha->ListNamespaces();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, "alpha");
  AIFS_EXPECT_OK(PutBytes(*alpha, "alpha", RandomBytes(100, 1)).status());
  AIFS_EXPECT_STATUS(PutBytes(*alpha, "beta", RandomBytes(100, 1)).status(), kPermissionDenied,
                     "WRONG_NAMESPACE");
  AIFS_EXPECT_STATUS(alpha->CollectGarbage(true).status(), kPermissionDenied, "WRONG_NAMESPACE");
  AIFS_EXPECT_STATUS(alpha->DeleteNamespace("alpha"), kPermissionDenied, "OPERATION_NOT_ALLOWED");
  // Whatever it mints carries its own caveats too.
  auto admin_alpha = As({"ns = alpha"});
  auto minted = admin_alpha->MintToken({"ops = get"});
  AIFS_EXPECT_STATUS(minted.status(), kPermissionDenied, "WRONG_NAMESPACE");
  auto timed = As({"expires < 2099-01-01T00:00:00Z"});
  auto child = timed->MintToken({"ops = get"});
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  EXPECT_EQ(auth::Macaroon::Parse(*child)->caveats(),
            (std::vector<std::string>{"ops = get", "expires < 2099-01-01T00:00:00Z"}));
}

TEST_F(CallerApiTest, AuditRecordsNameTheVerifiedCaller) {
  auto me = As({});
  auto snap = me->CreateSnapshot("alpha", SnapshotOptions{.author = "mallory"});
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_TRUE(snap->author.starts_with(me->caller_name())) << snap->author;
  EXPECT_NE(snap->author.find("(claims mallory)"), std::string::npos) << snap->author;
  auto branch = me->CreateBranch("alpha", "dev", snap->id.ToHex(), "");
  ASSERT_TRUE(branch.ok());
  auto log = engine().BranchLog("alpha", "dev");
  ASSERT_TRUE(log.ok() && !log->empty());
  EXPECT_EQ(log->back().who, me->caller_name());
  EXPECT_TRUE(me->caller_name().starts_with("token r1:"));
}

TEST_F(CallerApiTest, ATransactionCommitsOnlyWhileItsTokenHolds) {
  auto token = engine().MintToken({"ns = alpha", "ops = put"});
  auto api = engine().Admit(*token);
  ASSERT_TRUE(api.ok());
  auto txn = (*api)->BeginTransaction("alpha");
  ASSERT_TRUE(txn.ok());
  PutOptions o;
  o.ns = "beta";
  AIFS_EXPECT_STATUS((*txn)->BeginPut(o).status(), kPermissionDenied, "WRONG_NAMESPACE");
  o.ns = "alpha";
  auto w = (*txn)->BeginPut(o);
  ASSERT_TRUE(w.ok());
  AIFS_ASSERT_OK((*w)->Write(RandomBytes(10, 2)));
  AIFS_ASSERT_OK((*w)->Commit().status());
  AIFS_ASSERT_OK(engine().RevokeToken(*token));
  AIFS_EXPECT_STATUS((*txn)->Commit().status(), kUnauthenticated, "TOKEN_REVOKED");
  auto page = engine().ListAssets({.ns = "alpha"});
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->assets.empty());
}

TEST_F(CallerApiTest, ASignedUrlReadsItsAssetAndNothingElse) {
  const Bytes data = RandomBytes(200000, 3);
  const PutResult mine = MustPut(data, "alpha");
  const PutResult other = MustPut(RandomBytes(100, 4), "alpha");
  MustPut(data, "beta");  // the same bytes, same ID, in another namespace
  auto reader = As({"ns = alpha", "ops = get"});
  auto url = reader->SignUrl({.ns = "alpha", .id = mine.asset.id, .file_name = "w.bin"});
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  EXPECT_EQ(url->key_id, "u1");
  EXPECT_TRUE(url->path_and_query.starts_with("/v1/assets/alpha/" + mine.asset.id.ToHex() + "?"));
  const UrlClaim claim = ClaimOf(*url);
  EXPECT_EQ(claim.file_name, "w.bin");
  auto api = engine().AdmitUrl(claim);
  ASSERT_TRUE(api.ok()) << api.status().ToString();
  auto& u = **api;
  auto st = u.StatAssetAt("alpha", mine.asset.id, "", false);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->size, data.size());
  Bytes got;
  AIFS_ASSERT_OK(u.ReadAssetAt("alpha", mine.asset.id, "", {1000, 5000}, [&](ByteSpan b) {
    got.insert(got.end(), b.begin(), b.end());
    return Status::Ok();
  }));
  EXPECT_EQ(got, Bytes(data.begin() + 1000, data.begin() + 6000));
  // Nothing else: another asset, another namespace, another ref, any other call.
  AIFS_EXPECT_STATUS(u.StatAssetAt("alpha", other.asset.id, "", false).status(), kPermissionDenied,
                     "WRONG_ASSET");
  AIFS_EXPECT_STATUS(u.StatAssetAt("beta", mine.asset.id, "", false).status(), kPermissionDenied,
                     "WRONG_NAMESPACE");
  AIFS_EXPECT_STATUS(u.StatAssetAt("alpha", mine.asset.id, "main", false).status(),
                     kPermissionDenied, "WRONG_REF");
  AIFS_EXPECT_STATUS(u.ListAssets({.ns = "alpha"}).status(), kPermissionDenied,
                     "OPERATION_NOT_ALLOWED");
  AIFS_EXPECT_STATUS(u.SignUrl({.ns = "alpha", .id = mine.asset.id}).status(), kPermissionDenied,
                     "OPERATION_NOT_ALLOWED");
  // Any changed field breaks the signature; an unknown key is refused as such.
  for (auto tamper : std::vector<std::function<void(UrlClaim&)>>{
           [](UrlClaim& c) { c.ns = "beta"; },
           [&](UrlClaim& c) { c.id_hex = other.asset.id.ToHex(); },
           [](UrlClaim& c) { c.as_of = "main"; }, [](UrlClaim& c) { c.file_name = "evil.exe"; },
           [](UrlClaim& c) { c.expires = std::to_string(std::stoll(c.expires) + 3600); },
           [](UrlClaim& c) { c.signature[0] = c.signature[0] == 'a' ? 'b' : 'a'; }}) {
    UrlClaim c = claim;
    tamper(c);
    AIFS_EXPECT_STATUS(engine().AdmitUrl(c).status(), kPermissionDenied, "BAD_SIGNATURE");
  }
  UrlClaim unknown = claim;
  unknown.key_id = "u9";
  AIFS_EXPECT_STATUS(engine().AdmitUrl(unknown).status(), kPermissionDenied, "UNKNOWN_KEY");
  UrlClaim garbled = claim;
  garbled.expires = "soon";
  AIFS_EXPECT_STATUS(engine().AdmitUrl(garbled).status(), kPermissionDenied, "URL_MALFORMED");
  // Revoking the key voids the URL (after a rotation: never the last key).
  auto u2 = engine().RotateUrlKey();
  ASSERT_TRUE(u2.ok());
  EXPECT_EQ(*u2, "u2");
  AIFS_ASSERT_OK(engine().RevokeUrlKey("u1"));
  AIFS_EXPECT_STATUS(engine().AdmitUrl(claim).status(), kPermissionDenied, "KEY_REVOKED");
  auto keys = engine().ListUrlKeys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_TRUE((*keys)[0].revoked);
  EXPECT_TRUE((*keys)[1].current);
}

TEST_F(CallerApiTest, SigningChecksTheCallerTheAssetAndTheLifetime) {
  const PutResult a = MustPut(RandomBytes(100, 5), "alpha");
  auto no_get = As({"ops = list"});
  AIFS_EXPECT_STATUS(no_get->SignUrl({.ns = "alpha", .id = a.asset.id}).status(), kPermissionDenied,
                     "OPERATION_NOT_ALLOWED");
  auto short_lived = As({"expires < " + auth::FormatUtc(std::time(nullptr) + 60)});
  AIFS_EXPECT_STATUS(
      short_lived->SignUrl({.ns = "alpha", .id = a.asset.id, .expires_s = 3600}).status(),
      kPermissionDenied, "URL_OUTLIVES_TOKEN");
  AIFS_EXPECT_OK(short_lived->SignUrl({.ns = "alpha", .id = a.asset.id, .expires_s = 30}).status());
  AIFS_EXPECT_STATUS(engine().SignUrl({.ns = "alpha", .id = a.asset.id, .expires_s = 0}).status(),
                     kInvalidArgument, "BAD_EXPIRY");
  AIFS_EXPECT_STATUS(
      engine().SignUrl({.ns = "alpha", .id = a.asset.id, .expires_s = 8 * 86400}).status(),
      kInvalidArgument, "BAD_EXPIRY");
  AIFS_EXPECT_STATUS(
      engine().SignUrl({.ns = "alpha", .id = a.asset.id, .file_name = "a/b"}).status(),
      kInvalidArgument, "BAD_FILE_NAME");
  AIFS_EXPECT_STATUS(engine().SignUrl({.ns = "beta", .id = a.asset.id}).status(), kNotFound,
                     "ASSET_NOT_FOUND");
  // A URL that has expired says so (signed for 1 s, checked 2 s later).
  auto brief = engine().SignUrl({.ns = "alpha", .id = a.asset.id, .expires_s = 1});
  ASSERT_TRUE(brief.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  AIFS_EXPECT_STATUS(engine().AdmitUrl(ClaimOf(*brief)).status(), kPermissionDenied, "URL_EXPIRED");
}

TEST(UrlSignature, PercentEncodingKeepsOneSegment) {
  EXPECT_EQ(auth::PercentEncode("a b/c%d~e_f.g-h"), "a%20b%2Fc%25d~e_f.g-h");
  EXPECT_EQ(auth::PercentEncode("\xC3\xA9"), "%C3%A9");
}

}  // namespace
}  // namespace aifs::test
