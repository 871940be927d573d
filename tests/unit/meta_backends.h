// The fixture of the MetaStore suites, run over every backend: the test's
// parameter names the backend ("rocksdb": a store in the test's directory;
// "postgresql": a fresh schema on the test server, skipped when PostgreSQL
// is not installed).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "aifs/meta/meta_store.h"
#include "pg_test_server.h"
#include "test_util.h"

namespace aifs::test {

class MetaBackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "rocksdb") {
      url_ = "rocksdb://" + dir_.Sub("meta");
      return;
    }
    url_ = PgTestServer::Shared().NewStoreUrl();
    if (url_.empty()) GTEST_SKIP() << "no PostgreSQL server (scripts/pg-up.sh could not start one)";
  }
  bool postgres() const { return GetParam() == "postgresql"; }
  const std::string& Url() const { return url_; }
  std::unique_ptr<MetaStore> Open(MetaOpenOptions o = {.create = true}) {
    auto m = OpenMetaStore(url_, o);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(m).value() : nullptr;
  }
  static std::optional<std::string> Get(MetaStore& m, std::string_view key) {
    auto r = m.Get(key);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::nullopt;
  }
  static Status PutOne(MetaStore& m, std::string_view k, std::string_view v) {
    auto txn = m.Begin();
    AIFS_RETURN_IF_ERROR(txn->Put(k, v));
    return txn->Commit();
  }
  static std::vector<std::pair<std::string, std::string>> ScanAll(MetaStore& m,
                                                                  std::string_view begin,
                                                                  std::string_view end) {
    std::vector<std::pair<std::string, std::string>> out;
    Status st = m.Scan(begin, end, [&](std::string_view k, std::string_view v) {
      out.emplace_back(std::string(k), std::string(v));
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }

  TempDir dir_;
  std::string url_;
};

inline std::string BackendName(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

}  // namespace aifs::test

#define AIFS_META_BACKENDS ::testing::Values(std::string("rocksdb"), std::string("postgresql"))
