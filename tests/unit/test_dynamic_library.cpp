// Libraries bound at first use (core/dynamic_library.h): missing libraries
// and symbols fail with their reasons, a bound API calls the real function,
// and the CLI no longer names librados, libpq or libcurl, so a call that
// uses none of them never loads them. Also the URL parameter parser those
// stores share: its errors never show a value.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

#include "aifs/core/dynamic_library.h"
#include "aifs/core/url_params.h"
#include "test_util.h"

#define AIFS_TEST_LIBC_FUNCTIONS(X) X(strlen) X(strcmp)

namespace aifs::test {
namespace {

struct LibcApi {
  AIFS_TEST_LIBC_FUNCTIONS(AIFS_DECLARE_C_FUNCTION)
};

TEST(DynamicLibraryTest, AMissingLibraryNamesItsPackage) {
  auto h = OpenLibrary("libaifs-no-such-library.so.7", "aifs-no-such-package");
  AIFS_EXPECT_STATUS(h.status(), kFailedPrecondition, "LIBRARY_MISSING");
  EXPECT_NE(h.status().message().find("aifs-no-such-package"), std::string::npos)
      << h.status().message();
}

TEST(DynamicLibraryTest, AMissingSymbolIsNamed) {
  auto h = OpenLibrary("libc.so.6", "libc6");
  AIFS_ASSERT_OK(h.status());
  auto sym = LibrarySymbol(*h, "libc.so.6", "aifs_no_such_function");
  AIFS_EXPECT_STATUS(sym.status(), kFailedPrecondition, "LIBRARY_SYMBOL_MISSING");
  EXPECT_NE(sym.status().message().find("aifs_no_such_function"), std::string::npos);
}

TEST(DynamicLibraryTest, ABoundApiCallsTheLibrary) {
  auto bind = [](void* handle, const char* soname, LibcApi& api) -> Status {
    AIFS_TEST_LIBC_FUNCTIONS(AIFS_BIND_C_FUNCTION)
    return Status::Ok();
  };
  auto api = LoadCApi<LibcApi>("libc.so.6", "libc6", bind);
  AIFS_ASSERT_OK(api.status());
  EXPECT_EQ((*api)->strlen("seven!!"), 7u);
  EXPECT_EQ((*api)->strcmp("a", "a"), 0);
  EXPECT_EQ(*LoadCApi<LibcApi>("libc.so.6", "libc6", bind), *api) << "bound once per process";
}

TEST(DynamicLibraryTest, TheCliLoadsNoStoreBackendLibraryAtStart) {
  FILE* p = ::popen(("readelf -d '" + std::string(AIFS_CLI_PATH) + "' 2>/dev/null").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  if (::pclose(p) != 0 || out.find("NEEDED") == std::string::npos)
    GTEST_SKIP() << "readelf (binutils) is not here";
  EXPECT_NE(out.find("librocksdb"), std::string::npos) << "the oracle sees the linked libraries";
  for (const char* lib : {"librados", "libpq", "libcurl"})
    EXPECT_EQ(out.find(lib), std::string::npos) << lib << " is linked:\n" << out;
}

TEST(UrlParamsTest, ErrorsNameTheParameterButNeverShowAValue) {
  auto fn = [](std::string_view, std::string) { return Status::Ok(); };
  Status bad_escape = ForEachUrlParam("a=1;pin-value=TOP%zSECRET", ';', "BAD_URL", "test URL", fn);
  AIFS_EXPECT_STATUS(bad_escape, kInvalidArgument, "BAD_URL");
  EXPECT_NE(bad_escape.message().find("pin-value"), std::string::npos) << bad_escape.message();
  EXPECT_EQ(bad_escape.message().find("SECRET"), std::string::npos) << bad_escape.message();
  Status no_equals = ForEachUrlParam("a=1&TOPSECRET", '&', "BAD_URL", "test URL", fn);
  AIFS_EXPECT_STATUS(no_equals, kInvalidArgument, "BAD_URL");
  EXPECT_EQ(no_equals.message().find("SECRET"), std::string::npos) << no_equals.message();
  EXPECT_NE(no_equals.message().find("parameter 2"), std::string::npos) << no_equals.message();
}

TEST(UrlParamsTest, ValuesArePercentDecodedInOrder) {
  std::vector<std::pair<std::string, std::string>> seen;
  AIFS_ASSERT_OK(ForEachUrlParam("x=a%20b&&y=%2F", '&', "BAD_URL", "test URL",
                                 [&](std::string_view n, std::string v) {
                                   seen.emplace_back(n, std::move(v));
                                   return Status::Ok();
                                 }));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], std::make_pair(std::string("x"), std::string("a b")));
  EXPECT_EQ(seen[1], std::make_pair(std::string("y"), std::string("/")));
}

}  // namespace
}  // namespace aifs::test
