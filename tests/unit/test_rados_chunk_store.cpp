// RadosChunkStore beyond the common contract (test_chunk_store.cpp): URLs,
// open-time failures, exclusive create, namespaces, a stopped cluster and a
// killed OSD. The `rados` tool is the independent oracle of what is stored.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "aifs/core/hex.h"
#include "aifs/storage/chunk_store.h"
#include "ceph_test_cluster.h"
#include "test_util.h"

namespace aifs::test {
namespace {

bool Installed(const std::string& tool) {
  return std::system(("command -v " + tool + " >/dev/null 2>&1").c_str()) == 0;
}

// Runs a shell command; its stdout, or nullopt when it failed.
std::optional<std::string> Shell(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return std::nullopt;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  return ::pclose(p) == 0 ? std::optional(out) : std::nullopt;
}

// The namespace= of a URL the cluster made.
std::string NamespaceOf(const std::string& url) {
  const size_t at = url.find("namespace=");
  return url.substr(at + 10, url.find('&', at) - at - 10);
}

// A keyring with a fresh (so wrong) key for client.admin; its key.
std::string WrongKeyring(const std::string& path) {
  if (!Shell("ceph-authtool --create-keyring '" + path + "' --gen-key -n client.admin >/dev/null"))
    return "";
  auto key = Shell("ceph-authtool -p -n client.admin '" + path + "'");
  return key ? key->substr(0, key->find('\n')) : "";
}

class RadosChunkStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Installed("ceph-mon")) GTEST_SKIP() << "Ceph is not installed (scripts/install-deps.sh)";
  }
  // A store on the shared cluster in a fresh namespace; skips without one.
  std::unique_ptr<ChunkStore> SharedStore(std::string* url = nullptr) {
    const std::string u = CephTestCluster::Shared().NewRadosUrl();
    if (u.empty()) return nullptr;
    if (url) *url = u;
    auto cs = OpenChunkStore(u, true);
    EXPECT_TRUE(cs.ok()) << cs.status().ToString();
    return cs.ok() ? std::move(cs).value() : nullptr;
  }
  std::string RadosTool(const std::string& ns) const {
    return "rados -c '" + CephTestCluster::Shared().Conf() + "' -p aifs -N '" + ns + "' ";
  }
  TempDir dir_;
};

TEST_F(RadosChunkStoreTest, BadUrlsAreRefusedBeforeConnecting) {
  const std::string conf = dir_.Sub("ceph.conf");
  std::ofstream(conf) << "[global]\nmon_host = v2:127.0.0.1:1\n";
  for (const std::string& url :
       {std::string("rados://"), std::string("rados://?conf=") + conf, "rados://a/b?conf=" + conf,
        "rados://aifs?conf=" + conf + "&bogus=1", "rados://aifs?conf=" + conf + "&timeout=0",
        "rados://aifs?conf=" + conf + "&timeout=x",
        "rados://aifs?conf=" + conf + "&id=", std::string("rados://aifs?conf=%zz"),
        std::string("rados://aifs?conf=/nonexistent/ceph.conf"),
        "rados://aifs?conf=" + conf + "&x"}) {
    auto cs = OpenChunkStore(url, true);
    ASSERT_FALSE(cs.ok()) << url;
    AIFS_EXPECT_STATUS(cs.status(), kInvalidArgument, "BAD_CHUNK_STORE_URL") << url;
  }
}

// No monitor listens: UNAVAILABLE at open, after the URL's timeout.
TEST_F(RadosChunkStoreTest, UnreachableMonitorFailsAtOpen) {
  const std::string keyring = dir_.Sub("keyring");
  ASSERT_FALSE(WrongKeyring(keyring).empty());
  const std::string conf = dir_.Sub("ceph.conf");
  std::ofstream(conf) << "[global]\nmon_host = v2:127.0.0.1:" << CephTestCluster::PrivatePort(3)
                      << "\nms_bind_msgr1 = false\nlog_file = " << dir_.Sub("client.log")
                      << "\n[client]\nkeyring = " << keyring << "\n";
  auto cs = OpenChunkStore("rados://aifs?conf=" + conf + "&timeout=3", true);
  ASSERT_FALSE(cs.ok());
  AIFS_EXPECT_STATUS(cs.status(), kUnavailable, "CHUNK_STORE_UNAVAILABLE");
  EXPECT_NE(cs.status().message().find("pool aifs"), std::string::npos) << cs.status().ToString();
  EXPECT_NE(cs.status().message().find(conf), std::string::npos) << cs.status().ToString();
}

// A key the cluster does not know: refused at open, naming the pool and conf
// but never the key.
TEST_F(RadosChunkStoreTest, WrongKeyFailsAtOpen) {
  std::string url = CephTestCluster::Shared().NewRadosUrl();
  if (url.empty()) GTEST_SKIP() << "no Ceph cluster";
  const std::string keyring = dir_.Sub("keyring");
  const std::string key = WrongKeyring(keyring);
  ASSERT_FALSE(key.empty());
  auto cs = OpenChunkStore(url + "&keyring=" + keyring + "&timeout=10", true);
  ASSERT_FALSE(cs.ok());
  AIFS_EXPECT_STATUS(cs.status(), kPermissionDenied, "CHUNK_STORE_DENIED");
  const std::string msg = cs.status().message();
  EXPECT_NE(msg.find("pool aifs"), std::string::npos) << msg;
  EXPECT_NE(msg.find(CephTestCluster::Shared().Conf()), std::string::npos) << msg;
  EXPECT_EQ(msg.find(key), std::string::npos) << msg;
}

// A client the cluster knows but that may not touch the pool: refused at
// open (the open probes the pool), not at the first put.
TEST_F(RadosChunkStoreTest, ClientWithoutPoolCapsFailsAtOpen) {
  std::string url = CephTestCluster::Shared().NewRadosUrl();
  if (url.empty()) GTEST_SKIP() << "no Ceph cluster";
  const std::string keyring = dir_.Sub("keyring");
  const std::string client = "nocaps" + std::to_string(::getpid());
  ASSERT_TRUE(Shell("ceph -c '" + CephTestCluster::Shared().Conf() +
                    "' auth get-or-create client." + client + " mon 'allow r' >'" + keyring + "'"));
  url.replace(url.find("id=admin"), 8, "id=" + client);
  auto cs = OpenChunkStore(url + "&keyring=" + keyring + "&timeout=10", true);
  ASSERT_FALSE(cs.ok());
  AIFS_EXPECT_STATUS(cs.status(), kPermissionDenied, "CHUNK_STORE_DENIED");
  EXPECT_NE(cs.status().message().find("osd caps"), std::string::npos) << cs.status().ToString();
}

TEST_F(RadosChunkStoreTest, MissingPoolIsNotFoundEvenWithCreate) {
  std::string url = CephTestCluster::Shared().NewRadosUrl();
  if (url.empty()) GTEST_SKIP() << "no Ceph cluster";
  url.replace(0, std::string("rados://aifs").size(), "rados://no-such-pool");
  for (bool create : {false, true}) {
    auto cs = OpenChunkStore(url, create);
    ASSERT_FALSE(cs.ok());
    AIFS_EXPECT_STATUS(cs.status(), kNotFound, "CHUNK_STORE_NOT_FOUND");
    EXPECT_NE(cs.status().message().find("no-such-pool"), std::string::npos);
  }
  EXPECT_FALSE(Shell("ceph -c '" + CephTestCluster::Shared().Conf() +
                     "' osd pool ls | grep -qx no-such-pool"));
}

// A taken name is never overwritten: the same bytes are a retry (OK), other
// bytes an error; the rados tool reads the first bytes back.
TEST_F(RadosChunkStoreTest, ExclusiveCreateNeverOverwrites) {
  std::string url;
  auto store = SharedStore(&url);
  if (!store) GTEST_SKIP() << "no Ceph cluster";
  const std::string name = HexEncode(RandomBytes(16, 1));
  const Bytes data = RandomBytes(100000, 2);
  AIFS_ASSERT_OK(store->Put(name, data));
  AIFS_ASSERT_OK(store->Put(name, data));
  Bytes other = data;
  other[50000] ^= 1;
  AIFS_EXPECT_STATUS(store->Put(name, other), kAlreadyExists, "CHUNK_NAME_TAKEN");
  AIFS_EXPECT_STATUS(store->Put(name, Bytes(data.begin(), data.end() - 1)), kAlreadyExists,
                     "CHUNK_NAME_TAKEN");
  AIFS_EXPECT_STATUS(store->Put(name, {}), kAlreadyExists, "CHUNK_NAME_TAKEN");
  const std::string copy = dir_.Sub("copy");
  ASSERT_TRUE(Shell(RadosTool(NamespaceOf(url)) + "get " + name + " '" + copy + "'"));
  EXPECT_TRUE(ReadFileBytes(copy) == data);
}

// Objects live in the URL's namespace: the rados tool sees them there,
// another namespace does not; objects put by the tool are listed with their
// sizes, names that are not ours are not.
TEST_F(RadosChunkStoreTest, ObjectsLiveInTheirNamespace) {
  std::string url_a, url_b;
  auto a = SharedStore(&url_a);
  auto b = SharedStore(&url_b);
  if (!a || !b) GTEST_SKIP() << "no Ceph cluster";
  const std::string name = HexEncode(RandomBytes(16, 3));
  AIFS_ASSERT_OK(a->Put(name, RandomBytes(4321, 4)));
  auto ls = Shell(RadosTool(NamespaceOf(url_a)) + "ls");
  ASSERT_TRUE(ls);
  EXPECT_EQ(*ls, name + "\n");
  Bytes out;
  AIFS_EXPECT_STATUS(b->Get(name, out), kNotFound, "CHUNK_MISSING");
  size_t in_b = 0;
  AIFS_ASSERT_OK(b->List([&](const std::string&, uint64_t) { return ++in_b, true; }));
  EXPECT_EQ(in_b, 0u);

  const std::string theirs = HexEncode(RandomBytes(24, 5));
  WriteFileBytes(dir_.Sub("obj"), RandomBytes(777, 6));
  ASSERT_TRUE(
      Shell(RadosTool(NamespaceOf(url_a)) + "put " + theirs + " '" + dir_.Sub("obj") + "'"));
  ASSERT_TRUE(Shell(RadosTool(NamespaceOf(url_a)) + "put not-a-chunk '" + dir_.Sub("obj") + "'"));
  std::map<std::string, uint64_t> listed;
  AIFS_ASSERT_OK(
      a->List([&](const std::string& n, uint64_t size) { return listed[n] = size, true; }));
  EXPECT_EQ(listed, (std::map<std::string, uint64_t>{{name, 4321}, {theirs, 777}}));
  AIFS_ASSERT_OK(a->Get(theirs, out));
  EXPECT_TRUE(out == RandomBytes(777, 6));
}

// A cluster stopped while a store is open: calls fail UNAVAILABLE within the
// URL's timeout instead of hanging; opening fails the same way.
TEST_F(RadosChunkStoreTest, StoppedClusterIsUnavailable) {
  CephTestCluster cluster("/tmp/aifs-ceph-" + std::to_string(::getpid()) + "-stop",
                          CephTestCluster::PrivatePort(0));
  std::string why;
  if (!cluster.Start(&why)) GTEST_SKIP() << why;
  // The cluster's directory goes with it: the client's conf and keyring are copies.
  std::filesystem::copy_file(cluster.Conf(), dir_.Sub("ceph.conf"));
  std::filesystem::copy_file(cluster.Dir() + "/keyring", dir_.Sub("keyring"));
  const std::string url = "rados://aifs?conf=" + dir_.Sub("ceph.conf") +
                          "&keyring=" + dir_.Sub("keyring") + "&timeout=3";
  auto cs = OpenChunkStore(url, true);
  ASSERT_TRUE(cs.ok()) << cs.status().ToString();
  const std::string name = HexEncode(RandomBytes(16, 7));
  AIFS_ASSERT_OK((*cs)->Put(name, RandomBytes(1000, 8)));
  cluster.Stop();
  AIFS_EXPECT_STATUS((*cs)->Put(HexEncode(RandomBytes(16, 9)), RandomBytes(1000, 10)), kUnavailable,
                     "CHUNK_STORE_UNAVAILABLE");
  Bytes out;
  AIFS_EXPECT_STATUS((*cs)->Get(name, out), kUnavailable, "CHUNK_STORE_UNAVAILABLE");
  auto again = OpenChunkStore(url, false);
  ASSERT_FALSE(again.ok());
  AIFS_EXPECT_STATUS(again.status(), kUnavailable, "CHUNK_STORE_UNAVAILABLE");
}

// Issue 21's fault test: a pool of size 3 on 3 OSDs keeps taking puts and
// gets while one OSD is SIGKILLed in the middle of them.
TEST_F(RadosChunkStoreTest, PutsAndGetsGoOnWhenAnOsdIsKilled) {
  CephTestCluster cluster("/tmp/aifs-ceph-" + std::to_string(::getpid()) + "-osds",
                          CephTestCluster::PrivatePort(1), 0, 3);
  std::string why;
  if (!cluster.Start(&why)) GTEST_SKIP() << why;
  auto cs = OpenChunkStore(cluster.RadosUrl(), true);
  ASSERT_TRUE(cs.ok()) << cs.status().ToString();
  ChunkStore& store = **cs;
  constexpr int kThreads = 4, kPerThread = 150;
  std::atomic<int> done{0}, after_kill{0}, failures{0};
  std::atomic<bool> killed{false};
  std::string first_failure;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const uint64_t seed = 1000 * t + i;
        const std::string name = HexEncode(RandomBytes(16, seed));
        Status st = store.Put(name, RandomBytes(64 << 10, seed));
        Bytes out;
        if (st.ok()) st = store.Get(HexEncode(RandomBytes(16, 1000 * t + i / 2)), out);
        if (st.ok() && out != RandomBytes(64 << 10, 1000 * t + i / 2))
          st = err::DataLoss("TEST", "read back other bytes");
        if (!st.ok()) {
          std::lock_guard lock(mu);
          if (failures++ == 0) first_failure = st.ToString();
        }
        ++done;
        if (killed) ++after_kill;
      }
    });
  }
  while (done < kThreads * kPerThread / 4)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const int pid = cluster.Pid("osd.0");
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  killed = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0) << first_failure;
  EXPECT_GT(after_kill.load(), kThreads * kPerThread / 2) << "the OSD died too late to matter";
  // Everything written is there, with the OSD still dead.
  size_t listed = 0;
  AIFS_ASSERT_OK(store.List([&](const std::string&, uint64_t size) {
    EXPECT_EQ(size, 64u << 10);
    return ++listed, true;
  }));
  EXPECT_EQ(listed, static_cast<size_t>(kThreads * kPerThread));
}

}  // namespace
}  // namespace aifs::test
