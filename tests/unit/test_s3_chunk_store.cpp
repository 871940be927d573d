// The s3:// ChunkStore. S3ChunkStoreTest.* runs against radosgw (which
// verifies SigV4 signatures) of the Ceph cluster in $AIFS_TEST_CEPH_DIR
// (scripts/ceph-up.sh DIR --rgw PORT; the CTest fixture aifs_ceph), and
// skips without one. Each test gets a bucket of its own. Objects are also
// read with curl --aws-sigv4, an independent client. S3ChunkStoreLocalTest.*
// needs no cluster: URL checks, and tiny local servers that stall or answer
// 503 before 200.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "aifs/storage/s3_chunk_store.h"
#include "aifs/storage/s3_xml.h"
#include "test_util.h"

namespace aifs {
namespace {

using test::RandomBytes;
using test::TempDir;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string FreshName(uint64_t seed) { return HexEncode(RandomBytes(16, seed)); }

// Sets (or unsets, for nullptr) environment variables for a scope.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (const auto& [k, v] : vars) {
      const char* old = std::getenv(k);
      saved_.emplace_back(k, old ? std::optional<std::string>(old) : std::nullopt);
      v ? ::setenv(k, v, 1) : ::unsetenv(k);
    }
  }
  ~ScopedEnv() {
    for (const auto& [k, v] : saved_)
      v ? ::setenv(k.c_str(), v->c_str(), 1) : ::unsetenv(k.c_str());
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// Only the variables this test sets: no credentials from the machine.
ScopedEnv NoAwsEnv(const char* home) {
  return ScopedEnv({{"AWS_ACCESS_KEY_ID", nullptr},
                    {"AWS_SECRET_ACCESS_KEY", nullptr},
                    {"AWS_SESSION_TOKEN", nullptr},
                    {"AWS_SHARED_CREDENTIALS_FILE", nullptr},
                    {"AWS_PROFILE", nullptr},
                    {"HOME", home}});
}

class S3ChunkStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* dir = std::getenv("AIFS_TEST_CEPH_DIR");
    if (!dir || !*dir)
      GTEST_SKIP() << "AIFS_TEST_CEPH_DIR is not set (a cluster from scripts/ceph-up.sh DIR --rgw "
                      "PORT; ctest starts one)";
    endpoint_ = ReadAll(std::string(dir) + "/s3-endpoint");
    while (!endpoint_.empty() && std::isspace(static_cast<unsigned char>(endpoint_.back())))
      endpoint_.pop_back();
    credentials_ = std::string(dir) + "/s3-credentials";
    ASSERT_FALSE(endpoint_.empty()) << dir << "/s3-endpoint: was the cluster started with --rgw?";
    const std::string creds = ReadAll(credentials_);
    for (std::string line : {"aws_access_key_id", "aws_secret_access_key"}) {
      const size_t at = creds.find(line);
      ASSERT_NE(at, std::string::npos) << credentials_;
      const size_t eq = creds.find('=', at) + 1, nl = creds.find('\n', at);
      std::string v = creds.substr(eq, nl - eq);
      v.erase(0, v.find_first_not_of(' '));
      (line == std::string("aws_access_key_id") ? access_key_ : secret_key_) = v;
    }
    // A bucket per test (names allow a-z 0-9 -).
    bucket_ = "aifs-test-" + HexEncode(RandomBytes(6, std::random_device{}()));
  }

  std::string Url(const std::string& extra = "") const {
    return "s3://" + bucket_ + "?endpoint=" + endpoint_ +
           "&region=us-east-1&credentials=" + credentials_ + extra;
  }
  std::unique_ptr<ChunkStore> OpenOrDie(const std::string& url, bool create = true) {
    auto cs = OpenChunkStore(url, create);
    EXPECT_TRUE(cs.ok()) << cs.status().ToString();
    return cs.ok() ? std::move(*cs) : nullptr;
  }
  // curl --aws-sigv4, the independent client, on the object `key` (the user
  // from a config file, so the secret is not on a command line).
  std::string Curl(const std::string& args, const std::string& key) {
    const std::string cfg = dir_.Sub("curl.cfg");
    WriteFile(cfg, "user = \"" + access_key_ + ":" + secret_key_ + "\"\n");
    return "curl -sf --aws-sigv4 aws:amz:us-east-1:s3 -K " + cfg +
           " -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' " + args + " '" + endpoint_ + "/" +
           bucket_ + "/" + key + "'";
  }
  // The object as curl reads it; nullopt when curl fails.
  std::optional<std::string> CurlGet(const std::string& key) {
    if (std::system(Curl("-o " + dir_.Sub("curl.out"), key).c_str()) != 0) return std::nullopt;
    return ReadAll(dir_.Sub("curl.out"));
  }
  bool CurlPut(const std::string& key, const std::string& data) {
    WriteFile(dir_.Sub("curl.in"), data);
    return std::system(Curl("-o /dev/null -T " + dir_.Sub("curl.in"), key).c_str()) == 0;
  }

  TempDir dir_;
  std::string endpoint_, credentials_, access_key_, secret_key_, bucket_;
};

TEST_F(S3ChunkStoreTest, PutGetRangeDeleteListAgainstCurl) {
  auto store = OpenOrDie(Url("&prefix=chunks/"));
  ASSERT_TRUE(store);
  EXPECT_EQ(store->Url(), Url("&prefix=chunks/"));
  std::map<std::string, Bytes> objects;
  for (int i = 0; i < 12; ++i) {
    const std::string name = FreshName(100 + i);
    objects[name] = RandomBytes(static_cast<size_t>(i) * 9973, 200 + i);  // includes empty
    AIFS_ASSERT_OK(store->Put(name, objects[name]));
  }
  AIFS_ASSERT_OK(store->Sync());
  for (const auto& [name, data] : objects) {
    Bytes out = {1, 2, 3};
    AIFS_ASSERT_OK(store->Get(name, out));
    EXPECT_EQ(out, data) << name;
    // The oracle: curl's own SigV4 reads the same bytes under <prefix><name>.
    auto theirs = CurlGet("chunks/" + name);
    ASSERT_TRUE(theirs.has_value()) << name;
    EXPECT_EQ(*theirs, std::string(AsChars(data))) << name;
  }
  // And what curl writes, the store reads and lists.
  const std::string theirs = FreshName(99);
  objects[theirs] = RandomBytes(33333, 99);
  ASSERT_TRUE(CurlPut("chunks/" + theirs, std::string(AsChars(objects[theirs]))));
  Bytes mine;
  AIFS_ASSERT_OK(store->Get(theirs, mine));
  EXPECT_EQ(mine, objects[theirs]);
  // Ranges: inside, to the end, empty, past the end.
  const auto& [big, bytes] = *std::max_element(
      objects.begin(), objects.end(),
      [](const auto& a, const auto& b) { return a.second.size() < b.second.size(); });
  ASSERT_GT(bytes.size(), 5100u);
  Bytes part;
  AIFS_ASSERT_OK(store->GetRange(big, 100, 5000, part));
  EXPECT_EQ(part, Bytes(bytes.begin() + 100, bytes.begin() + 5100));
  AIFS_ASSERT_OK(store->GetRange(big, bytes.size() - 7, 7, part));
  EXPECT_EQ(part, Bytes(bytes.end() - 7, bytes.end()));
  AIFS_ASSERT_OK(store->GetRange(big, bytes.size(), 0, part));
  EXPECT_TRUE(part.empty());
  AIFS_EXPECT_STATUS(store->GetRange(big, bytes.size() - 7, 8, part), kDataLoss, "CHUNK_TRUNCATED");
  AIFS_EXPECT_STATUS(store->GetRange(big, bytes.size() + 10, 1, part), kDataLoss,
                     "CHUNK_TRUNCATED");
  AIFS_EXPECT_STATUS(store->GetRange(big, bytes.size() + 1, 0, part), kDataLoss, "CHUNK_TRUNCATED");
  AIFS_EXPECT_STATUS(store->GetRange(FreshName(1), 0, 10, part), kNotFound, "CHUNK_MISSING");

  // List: exactly the objects with their sizes, prefix stripped; stops early.
  std::map<std::string, uint64_t> listed;
  AIFS_ASSERT_OK(store->List([&](const std::string& name, uint64_t size) {
    EXPECT_TRUE(listed.emplace(name, size).second) << "listed twice: " << name;
    return true;
  }));
  ASSERT_EQ(listed.size(), objects.size());
  for (const auto& [name, data] : objects) EXPECT_EQ(listed[name], data.size()) << name;
  size_t visited = 0;
  AIFS_ASSERT_OK(store->List([&](const std::string&, uint64_t) { return ++visited < 3; }));
  EXPECT_EQ(visited, 3u);
  // Another prefix in the same bucket is another store.
  auto other = OpenOrDie(Url("&prefix=other/"), false);
  ASSERT_TRUE(other);
  AIFS_ASSERT_OK(other->List([&](const std::string& n, uint64_t) {
    ADD_FAILURE() << "other prefix lists " << n;
    return true;
  }));

  // Delete: gone (for curl too), deleting again is fine, others stay.
  const std::string victim = objects.begin()->first;
  AIFS_ASSERT_OK(store->Delete(victim));
  AIFS_ASSERT_OK(store->Delete(victim));
  Bytes out;
  AIFS_EXPECT_STATUS(store->Get(victim, out), kNotFound, "CHUNK_MISSING");
  EXPECT_FALSE(CurlGet("chunks/" + victim).has_value());
  AIFS_ASSERT_OK(store->Get(std::next(objects.begin())->first, out));
  EXPECT_EQ(out, std::next(objects.begin())->second);

  // Names a Put could not have made are refused before any request.
  for (const std::string bad : {"short", "../../etc/passwd", "abcdefgh/ij", ".hiddenname", ""}) {
    AIFS_EXPECT_STATUS(store->Put(bad, AsBytes("x")), kInvalidArgument, "BAD_OBJECT_NAME") << bad;
    AIFS_EXPECT_STATUS(store->Get(bad, out), kInvalidArgument, "BAD_OBJECT_NAME") << bad;
  }
}

TEST_F(S3ChunkStoreTest, EightThreadsPutAndGetAtOnce) {
  auto store = OpenOrDie(Url("&connections=4"));  // fewer handles than threads: they wait
  ASSERT_TRUE(store);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const uint64_t seed = 1000 * t + i;
        const std::string name = FreshName(seed);
        const Bytes data = RandomBytes(1000 + 4099 * i, seed);
        Bytes back;
        if (!store->Put(name, data).ok() || !store->Get(name, back).ok() || back != data)
          ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  size_t n = 0;
  AIFS_ASSERT_OK(store->List([&](const std::string&, uint64_t) { return ++n, true; }));
  EXPECT_EQ(n, 200u);
}

// More than one page of ListObjectsV2 (1000 keys each): every object once,
// with its exact size. Names are lowercase hex, so keys never need XML
// entity decoding here (S3XmlTest covers the decoder).
TEST_F(S3ChunkStoreTest, ListsMoreThanOnePage) {
  auto store = OpenOrDie(Url());
  ASSERT_TRUE(store);
  constexpr int kObjects = 1234;
  std::map<std::string, uint64_t> want;
  for (int i = 0; i < kObjects; ++i) want[FreshName(50000 + i)] = static_cast<uint64_t>(i % 97);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      int i = 0;
      for (const auto& [name, size] : want)
        if (i++ % 8 == t && !store->Put(name, RandomBytes(size, size)).ok()) ++failures;
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  std::map<std::string, uint64_t> listed;
  AIFS_ASSERT_OK(store->List([&](const std::string& name, uint64_t size) {
    EXPECT_TRUE(listed.emplace(name, size).second) << "listed twice: " << name;
    return true;
  }));
  EXPECT_EQ(listed, want);
  // Stopping inside the second page stops there.
  int visited = 0;
  AIFS_ASSERT_OK(store->List([&](const std::string&, uint64_t) { return ++visited < 1100; }));
  EXPECT_EQ(visited, 1100);
}

TEST_F(S3ChunkStoreTest, WrongSecretFailsAtOpenWithoutShowingIt) {
  const std::string wrong = "WRONGSECRETwrongsecret0123456789abcdefgh";
  WriteFile(dir_.Sub("creds"), "[default]\naws_access_key_id = " + access_key_ +
                                   "\naws_secret_access_key = " + wrong + "\n");
  for (bool create : {false, true}) {
    auto cs = OpenChunkStore(
        "s3://" + bucket_ + "?endpoint=" + endpoint_ + "&credentials=" + dir_.Sub("creds"), create);
    ASSERT_FALSE(cs.ok());
    AIFS_EXPECT_STATUS(cs.status(), kUnauthenticated, "S3_AUTH_FAILED");
    const std::string text = cs.status().ToString();
    EXPECT_NE(text.find("SignatureDoesNotMatch"), std::string::npos) << text;
    EXPECT_NE(text.find(endpoint_), std::string::npos) << text;
    EXPECT_NE(text.find(bucket_), std::string::npos) << text;
    EXPECT_EQ(text.find(wrong), std::string::npos) << text;
    EXPECT_EQ(text.find(secret_key_), std::string::npos) << text;
  }
}

TEST_F(S3ChunkStoreTest, UnknownAccessKeyFailsAtOpen) {
  WriteFile(
      dir_.Sub("creds"),
      "[default]\naws_access_key_id = NOSUCHKEY\naws_secret_access_key = " + secret_key_ + "\n");
  auto cs = OpenChunkStore(
      "s3://" + bucket_ + "?endpoint=" + endpoint_ + "&credentials=" + dir_.Sub("creds"), true);
  ASSERT_FALSE(cs.ok());
  AIFS_EXPECT_STATUS(cs.status(), kUnauthenticated, "S3_AUTH_FAILED");
  EXPECT_NE(cs.status().message().find("InvalidAccessKeyId"), std::string::npos)
      << cs.status().ToString();
  EXPECT_EQ(cs.status().ToString().find(secret_key_), std::string::npos);
}

TEST_F(S3ChunkStoreTest, MissingBucketIsNotFoundUnlessCreated) {
  auto cs = OpenChunkStore(Url(), false);
  ASSERT_FALSE(cs.ok());
  AIFS_EXPECT_STATUS(cs.status(), kNotFound, "CHUNK_STORE_NOT_FOUND");
  EXPECT_NE(cs.status().message().find("NoSuchBucket"), std::string::npos);
  ASSERT_TRUE(OpenOrDie(Url(), true));
  ASSERT_TRUE(OpenOrDie(Url(), true));  // BucketAlreadyOwnedByYou is fine
  ASSERT_TRUE(OpenOrDie(Url(), false));
}

TEST_F(S3ChunkStoreTest, CredentialsFromEnvironmentAndFiles) {
  const std::string base = "s3://" + bucket_ + "?endpoint=" + endpoint_;
  {
    auto env = NoAwsEnv("/nonexistent");
    auto cs = OpenChunkStore(base, true);
    AIFS_EXPECT_STATUS(cs.status(), kFailedPrecondition, "S3_NO_CREDENTIALS");
  }
  {
    auto env = NoAwsEnv("/nonexistent");
    ScopedEnv keys({{"AWS_ACCESS_KEY_ID", access_key_.c_str()},
                    {"AWS_SECRET_ACCESS_KEY", secret_key_.c_str()}});
    auto store = OpenOrDie(base, true);
    ASSERT_TRUE(store);
    AIFS_EXPECT_OK(store->Put(FreshName(7), AsBytes("from the environment")));
  }
  // A named profile of the file in AWS_SHARED_CREDENTIALS_FILE, and of ~/.aws/credentials.
  WriteFile(dir_.Sub("shared"),
            "[default]\naws_access_key_id = NOSUCHKEY\n"
            "aws_secret_access_key = x\n\n[profile aifs]\n"
            "aws_access_key_id = " +
                access_key_ + "\naws_secret_access_key = " + secret_key_ + "\n");
  {
    auto env = NoAwsEnv("/nonexistent");
    ScopedEnv file({{"AWS_SHARED_CREDENTIALS_FILE", dir_.Sub("shared").c_str()}});
    AIFS_EXPECT_STATUS(OpenChunkStore(base, false).status(), kUnauthenticated, "S3_AUTH_FAILED");
    ASSERT_TRUE(OpenOrDie(base + "&profile=aifs", false));
    AIFS_EXPECT_STATUS(OpenChunkStore(base + "&profile=nobody", false).status(),
                       kFailedPrecondition, "S3_NO_CREDENTIALS");
  }
  {
    std::filesystem::create_directories(dir_.Sub(".aws"));
    std::filesystem::copy_file(dir_.Sub("shared"), dir_.Sub(".aws/credentials"));
    auto env = NoAwsEnv(dir_.path().c_str());
    ScopedEnv profile({{"AWS_PROFILE", "aifs"}});
    auto store = OpenOrDie(base, false);
    ASSERT_TRUE(store);
    Bytes out;
    AIFS_ASSERT_OK(store->Get(FreshName(7), out));
    EXPECT_EQ(AsChars(out), "from the environment");
  }
}

// x-amz-content-sha256 is the body's real hash, so radosgw checks the body:
// one that does not match it (as if damaged on the way) is refused.
TEST_F(S3ChunkStoreTest, BodyNotMatchingItsSha256IsRefused) {
  auto opened = S3ChunkStore::Open(Url("&retries=1"), true);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto* store = static_cast<S3ChunkStore*>(opened->get());
  const Bytes data = RandomBytes(70000, 3);
  Bytes damaged = data;
  damaged[1234] ^= 1;
  const std::string name = FreshName(3);
  Status st = store->PutClaimingSha256ForTest(name, damaged, Sha256Hex(data));
  AIFS_EXPECT_STATUS(st, kDataLoss, "S3_CHECKSUM_MISMATCH");
  EXPECT_NE(st.message().find("XAmzContentSHA256Mismatch"), std::string::npos) << st.ToString();
  Bytes out;
  AIFS_EXPECT_STATUS(store->Get(name, out), kNotFound, "CHUNK_MISSING");
  AIFS_ASSERT_OK(store->Put(name, data));
  AIFS_ASSERT_OK(store->Get(name, out));
  EXPECT_EQ(out, data);
}

// ---------------------------------------------------------------- no cluster needed

std::string FakeCredentials(const TempDir& dir) {
  WriteFile(dir.Sub("creds"),
            "[default]\naws_access_key_id = AKFAKE\naws_secret_access_key = fakesecret\n");
  return dir.Sub("creds");
}

// A TCP listener on 127.0.0.1. With answers, it is a tiny HTTP/1.1 server
// that answers the n-th request with answers[n] (the last one repeated; an
// empty answer resets the connection instead); without, it accepts
// connections and never says a word.
class LocalServer {
 public:
  explicit LocalServer(std::vector<std::string> answers = {}) : answers_(std::move(answers)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), len), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~LocalServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    for (int c : conns_)
      if (c >= 0) ::close(c);
    ::close(fd_);
  }
  std::string Endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_.load(); }
  int connections() const { return connections_.load(); }
  // The request lines and headers received, in order.
  std::vector<std::string> heads() const {
    std::lock_guard lock(mu_);
    return heads_;
  }

  static std::string Answer(int status, const std::string& body) {
    return "HTTP/1.1 " + std::to_string(status) +
           " X\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nContent-Type: application/xml\r\n\r\n" + body;
  }

 private:
  void Run() {
    for (int c; (c = ::accept(fd_, nullptr, nullptr)) >= 0;) {
      conns_.push_back(c);
      ++connections_;
      if (!answers_.empty()) Serve(conns_.back());  // one connection at a time is enough here
    }
  }
  void Serve(int& c) {
    std::string in;
    char buf[65536];
    for (;;) {
      size_t end;
      while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        const ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) return;
        in.append(buf, static_cast<size_t>(n));
      }
      size_t length = 0;
      const size_t cl = in.find("Content-Length: ");
      if (cl != std::string::npos && cl < end) length = std::stoul(in.substr(cl + 16));
      const size_t expect = in.find("Expect: 100-continue");
      constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      if (expect != std::string::npos && expect < end &&
          ::write(c, kContinue.data(), kContinue.size()) != static_cast<ssize_t>(kContinue.size()))
        return;
      while (in.size() < end + 4 + length) {
        const ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) return;
        in.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard lock(mu_);
        heads_.push_back(in.substr(0, end));
      }
      in.erase(0, end + 4 + length);
      const int i = requests_++;
      const std::string& a = answers_[std::min<size_t>(i, answers_.size() - 1)];
      if (a.empty()) {  // RST: close with a zero linger time
        const linger l{1, 0};
        ::setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        ::close(c);
        c = -1;
        return;
      }
      if (::write(c, a.data(), a.size()) != static_cast<ssize_t>(a.size())) return;
    }
  }

  std::vector<std::string> answers_;
  int fd_ = -1, port_ = 0;
  std::vector<int> conns_;
  std::atomic<int> requests_{0}, connections_{0};
  mutable std::mutex mu_;
  std::vector<std::string> heads_;
  std::thread thread_;
};

TEST(S3ChunkStoreLocalTest, ServerThatNeverAnswersIsUnavailableNotAHang) {
  TempDir dir;
  LocalServer silent;
  auto cs = OpenChunkStore("s3://bucket?endpoint=" + silent.Endpoint() +
                               "&credentials=" + FakeCredentials(dir) + "&timeout=1&retries=1",
                           true);
  AIFS_ASSERT_STATUS(cs.status(), kUnavailable, "CHUNK_STORE_UNAVAILABLE");
  EXPECT_NE(cs.status().message().find(silent.Endpoint()), std::string::npos)
      << cs.status().ToString();
}

TEST(S3ChunkStoreLocalTest, NobodyListeningIsUnavailable) {
  TempDir dir;
  int port;
  {
    LocalServer gone;  // a port that was free a moment ago
    port = std::stoi(gone.Endpoint().substr(17));
  }
  auto cs = OpenChunkStore("s3://bucket?endpoint=http://127.0.0.1:" + std::to_string(port) +
                               "&credentials=" + FakeCredentials(dir) + "&retries=2",
                           true);
  AIFS_EXPECT_STATUS(cs.status(), kUnavailable, "CHUNK_STORE_UNAVAILABLE");
}

TEST(S3ChunkStoreLocalTest, RetriesAfter503SlowDown) {
  TempDir dir;
  const std::string slow = LocalServer::Answer(
      503,
      "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>");
  const std::string listing = LocalServer::Answer(
      200, "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
  // open: 503, then the listing; put: 503, 503, then 200.
  LocalServer server({slow, listing, slow, slow, LocalServer::Answer(200, "")});
  auto cs = OpenChunkStore("s3://bucket?endpoint=" + server.Endpoint() +
                               "&credentials=" + FakeCredentials(dir) + "&retries=3",
                           true);
  ASSERT_TRUE(cs.ok()) << cs.status().ToString();
  AIFS_ASSERT_OK((*cs)->Put(FreshName(1), AsBytes("payload")));
  EXPECT_EQ(server.requests(), 5);
  EXPECT_EQ(server.connections(), 1);  // kept alive across requests and 503s
  // A connection reset (no answer at all) is retried on a new connection.
  LocalServer resetting({"", listing});
  auto cs3 = OpenChunkStore("s3://bucket?endpoint=" + resetting.Endpoint() +
                                "&credentials=" + FakeCredentials(dir) + "&retries=1",
                            true);
  ASSERT_TRUE(cs3.ok()) << cs3.status().ToString();
  EXPECT_EQ(resetting.requests(), 2);
  EXPECT_EQ(resetting.connections(), 2);
  // With fewer retries than 503s: UNAVAILABLE, naming S3's code.
  LocalServer busy({listing, slow});
  auto cs2 = OpenChunkStore("s3://bucket?endpoint=" + busy.Endpoint() +
                                "&credentials=" + FakeCredentials(dir) + "&retries=2",
                            true);
  ASSERT_TRUE(cs2.ok()) << cs2.status().ToString();
  Status st = (*cs2)->Put(FreshName(1), AsBytes("payload"));
  AIFS_EXPECT_STATUS(st, kUnavailable, "CHUNK_STORE_UNAVAILABLE");
  EXPECT_NE(st.message().find("SlowDown"), std::string::npos) << st.ToString();
  EXPECT_EQ(busy.requests(), 1 + 3);
}

TEST(S3ChunkStoreLocalTest, BadUrlsAndSecretsInUrls) {
  TempDir dir;
  const std::string creds = "&credentials=" + FakeCredentials(dir);
  for (const std::string url :
       {"s3://?endpoint=http://127.0.0.1:1", "s3://b1?endpoint=http://127.0.0.1:1",
        "s3://Bucket?endpoint=http://127.0.0.1:1", "s3://bucket?endpoint=ftp://x",
        "s3://bucket?endpoint=http://127.0.0.1:1/path", "s3://bucket?endpoint=http://u:p@host",
        "s3://bucket?endpoint=http://h&addressing=sideways", "s3://bucket?endpoint=http://h&x=1",
        "s3://bucket?endpoint=http://h&retries=lots",
        "s3://bucket?endpoint=http://h&prefix=a%20b"}) {
    AIFS_EXPECT_STATUS(OpenChunkStore(url + creds, true).status(), kInvalidArgument,
                       "BAD_CHUNK_STORE_URL")
        << url;
  }
  auto userinfo = OpenChunkStore("s3://bucket?endpoint=http://me:TOPSECRET@host" + creds, true);
  AIFS_EXPECT_STATUS(userinfo.status(), kInvalidArgument, "BAD_CHUNK_STORE_URL");
  EXPECT_EQ(userinfo.status().ToString().find("TOPSECRET"), std::string::npos);
  for (const std::string param : {"secret_key", "aws_secret_access_key", "access_key", "token"}) {
    auto cs = OpenChunkStore("s3://bucket?endpoint=http://h&" + param + "=TOPSECRET" + creds, true);
    AIFS_EXPECT_STATUS(cs.status(), kInvalidArgument, "BAD_CHUNK_STORE_URL") << param;
    EXPECT_EQ(cs.status().ToString().find("TOPSECRET"), std::string::npos)
        << cs.status().ToString();
  }
}

TEST(S3XmlTest, ReadsElementsAndDecodesEntities) {
  const std::string xml =
      "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"x\"><IsTruncated>true</IsTruncated>"
      "<Contents><Key>a&amp;b&lt;c&gt;&quot;&apos;&#38;&#x263A;&bogus;</Key><Size>12</Size>"
      "</Contents><Contents><Key>k2</Key><Size>0</Size></Contents><Empty/>"
      "<NextContinuationToken>1/2+3=</NextContinuationToken></ListBucketResult>";
  EXPECT_EQ(XmlText(xml, "IsTruncated"), "true");
  EXPECT_EQ(XmlText(xml, "NextContinuationToken"), "1/2+3=");
  EXPECT_EQ(XmlText(xml, "Empty"), "");
  EXPECT_EQ(XmlText(xml, "Missing"), std::nullopt);
  EXPECT_EQ(XmlText(xml, "Key"), "a&b<c>\"'&\xE2\x98\xBA&bogus;");
  std::vector<std::string> sizes;
  ForEachXmlElement(xml, "Contents",
                    [&](std::string_view c) { sizes.push_back(*XmlText(c, "Size")); });
  EXPECT_EQ(sizes, (std::vector<std::string>{"12", "0"}));
  EXPECT_EQ(XmlDecode("&#xD800;&#0;&#99999999;&amp"), "&#xD800;&#0;&#99999999;&amp");
  EXPECT_EQ(S3UriEncode("a b/c=d+e~f-_."), "a%20b%2Fc%3Dd%2Be~f-_.");
}

// addressing=virtual puts the bucket in the host name (curl resolves
// *.localhost to the loopback address itself) and the key alone in the path.
TEST(S3ChunkStoreLocalTest, VirtualHostedAddressing) {
  TempDir dir;
  LocalServer server(
      {LocalServer::Answer(200, "<ListBucketResult/>"), LocalServer::Answer(200, "")});
  const std::string port = server.Endpoint().substr(17);
  auto cs = OpenChunkStore("s3://bucket?endpoint=http://localhost:" + port +
                               "&addressing=virtual&prefix=p/&credentials=" + FakeCredentials(dir),
                           true);
  ASSERT_TRUE(cs.ok()) << cs.status().ToString();
  const std::string name = FreshName(1);
  AIFS_ASSERT_OK((*cs)->Put(name, AsBytes("payload")));
  const auto heads = server.heads();
  ASSERT_EQ(heads.size(), 2u);
  EXPECT_TRUE(heads[0].starts_with("GET /?list-type=2&max-keys=1 HTTP/1.1")) << heads[0];
  EXPECT_TRUE(heads[1].starts_with("PUT /p/" + name + " HTTP/1.1")) << heads[1];
  for (const auto& h : heads) {
    EXPECT_NE(h.find("Host: bucket.localhost:" + port), std::string::npos) << h;
    EXPECT_NE(h.find("Credential=AKFAKE/"), std::string::npos) << h;
    EXPECT_EQ(h.find("fakesecret"), std::string::npos) << h;
  }
  EXPECT_NE(heads[1].find("x-amz-content-sha256: " + Sha256Hex(AsBytes("payload"))),
            std::string::npos)
      << heads[1];
}

}  // namespace
}  // namespace aifs
