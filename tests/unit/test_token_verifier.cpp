// TokenVerifier keeps the parse of tokens it has seen, and nothing else: a
// token verified before is still refused as soon as it is revoked, its root
// key is revoked or it expires; an altered copy is refused while the genuine
// one passes; more tokens than it keeps, and many threads, change nothing.
#include <gtest/gtest.h>

#include <thread>

#include "aifs/auth/macaroon.h"
#include "test_util.h"

namespace aifs::test {
namespace {

class TokenVerifierTest : public EngineFixture {
 protected:
  void SetUp() override {
    InitStore();
    if (keys().List()->empty()) {
      AIFS_ASSERT_OK(keys().Rotate().status());
    }
  }
  auth::TokenVerifier& tokens() { return engine().tokens(); }
  auth::RootKeyStore& keys() { return tokens().keys(); }
  std::string Mint(const auth::TokenSpec& spec = {}) {
    auto t = tokens().Mint(spec);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : "";
  }
  static auth::Access Now(int64_t plus_s = 0) {
    auth::Access a;
    a.scope = auth::Access::Scope::kAny;
    a.now_unix_s = static_cast<int64_t>(std::time(nullptr)) + plus_s;
    return a;
  }
  std::string TokenIdOf(const std::string& token) {
    return auth::ParseTokenIdentifier(auth::Macaroon::Parse(token)->identifier())->token_id;
  }
};

TEST_F(TokenVerifierTest, ARevokedTokenIsRefusedThoughVerifiedBefore) {
  const std::string t = Mint();
  for (int i = 0; i < 3; ++i) AIFS_ASSERT_OK(tokens().Verify(t, Now()).status());
  AIFS_ASSERT_OK(tokens().revocations().Revoke(TokenIdOf(t)));
  AIFS_EXPECT_STATUS(tokens().Verify(t, Now()).status(), kUnauthenticated, "TOKEN_REVOKED");
  AIFS_EXPECT_STATUS(tokens().Authenticate(t).status(), kUnauthenticated, "TOKEN_REVOKED");
}

TEST_F(TokenVerifierTest, ExpiryIsCheckedOnEveryCall) {
  const std::string t = Mint({.expires_unix_s = static_cast<int64_t>(std::time(nullptr)) + 100});
  AIFS_ASSERT_OK(tokens().Verify(t, Now()).status());
  AIFS_EXPECT_STATUS(tokens().Verify(t, Now(200)).status(), kPermissionDenied, "TOKEN_EXPIRED");
  AIFS_EXPECT_OK(tokens().Verify(t, Now()).status());
}

TEST_F(TokenVerifierTest, ARevokedRootKeyVoidsItsTokensThoughVerifiedBefore) {
  const std::string t = Mint();
  const std::string old_key = keys().Current()->id;
  AIFS_ASSERT_OK(tokens().Verify(t, Now()).status());
  AIFS_ASSERT_OK(keys().Rotate().status());
  AIFS_ASSERT_OK(tokens().Verify(t, Now()).status());  // old keys verify until revoked
  AIFS_ASSERT_OK(keys().Revoke(old_key));
  AIFS_EXPECT_STATUS(tokens().Verify(t, Now()).status(), kUnauthenticated, "KEY_REVOKED");
}

TEST_F(TokenVerifierTest, AlteredCopiesAreRefusedWhileTheGenuineOnePasses) {
  const std::string t = Mint();
  AIFS_ASSERT_OK(tokens().Verify(t, Now()).status());
  // Characters of the text changed in turn: none is accepted, except in the
  // location, which a macaroon's signature does not cover (a hint for the
  // holder; the same capability). The last few characters are left:
  // base64's final character may carry unused bits.
  const std::string identifier = auth::Macaroon::Parse(t)->identifier();
  for (size_t i = 0; i + 4 < t.size(); ++i) {
    std::string bad = t;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    const Status st = tokens().Verify(bad, Now()).status();
    if (st.ok()) {
      auto m = auth::Macaroon::Parse(bad);
      ASSERT_TRUE(m.ok());
      EXPECT_NE(m->location(), "aifs") << "altered at " << i;
      EXPECT_EQ(m->identifier(), identifier) << "altered at " << i;
      continue;
    }
    EXPECT_EQ(st.code(), Code::kUnauthenticated) << i << ": " << st.ToString();
  }
  AIFS_EXPECT_OK(tokens().Verify(t, Now()).status());
  // An attenuated copy is another text, with its own caveats.
  auto narrow = auth::AttenuateToken(t, {auth::OpsCaveat(auth::kOpGet)});
  ASSERT_TRUE(narrow.ok());
  auto v = tokens().Verify(*narrow, Now());
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->caveats.size(), 1u);
  EXPECT_TRUE(tokens().Verify(t, Now())->caveats.empty());
}

TEST_F(TokenVerifierTest, MoreTokensThanItKeepsAndManyThreads) {
  std::vector<std::string> many;
  for (int i = 0; i < 1100; ++i) many.push_back(Mint());
  for (const std::string& t : many) AIFS_ASSERT_OK(tokens().Verify(t, Now()).status());
  AIFS_ASSERT_OK(tokens().revocations().Revoke(TokenIdOf(many[5])));
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th)
    threads.emplace_back([&, th] {
      for (int i = 0; i < 600; ++i) {
        const size_t k = (static_cast<size_t>(i) * 7 + static_cast<size_t>(th) * 13) % many.size();
        const Status st = tokens().Verify(many[k], Now()).status();
        if (st.ok() != (k != 5)) ++wrong;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  AIFS_EXPECT_STATUS(tokens().Verify(many[5], Now()).status(), kUnauthenticated, "TOKEN_REVOKED");
}

}  // namespace
}  // namespace aifs::test
