// Metadata durability (issue 15): damage to the RocksDB files is either
// harmless or refused loudly, never a silent loss of committed writes; a
// killed writer never leaves a store that refuses to open; backups are
// consistent copies; recovery keeps everything it can and says what it lost.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>

#include "aifs/core/file_util.h"
#include "aifs/engine/recovery.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/meta_store.h"
#include "aifs/meta/rocksdb/rocksdb_meta_store.h"
#include "test_util.h"

namespace aifs::test {
namespace {

constexpr int kCommits = 40;

std::string Key(int i) { return "as/default/" + std::to_string(100000 + i); }
std::string Value(int i) {
  return std::string(90, static_cast<char>('a' + i % 26)) + std::to_string(i);
}

class MetaDurabilityTest : public ::testing::Test {
 protected:
  std::string Dir() const { return dir_.Sub("meta"); }
  std::string Url() const { return "rocksdb://" + Dir(); }

  // A store holding kCommits synced commits, closed cleanly; with `flush`,
  // moved into an SST file first (a checkpoint flushes the memtable).
  void Make(bool flush) {
    fs::remove_all(Dir());
    fs::remove(RocksDbMetaStore::HighWaterPath(Dir()));
    auto m = OpenMetaStore(Url(), {.create = true});
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    for (int i = 0; i < kCommits; ++i) {
      AIFS_ASSERT_OK(RunTransaction(**m, [&](MetaTxn& txn) { return txn.Put(Key(i), Value(i)); }));
    }
    if (flush) {
      auto cp = (*m)->Checkpoint(dir_.Sub("cp"));
      ASSERT_TRUE(cp.ok()) << cp.status().ToString();
      fs::remove_all(dir_.Sub("cp"));
    }
  }

  std::vector<std::string> Files(const std::string& ext) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(Dir()))
      if (e.path().extension() == ext) out.push_back(e.path().string());
    return out;
  }

  enum class Outcome { kIntact, kRefused, kLoudOnRead, kSilentLoss };

  // Opens the damaged store and classifies what a user would see.
  Outcome Judge(std::string* detail) {
    auto m = OpenMetaStore(Url(), {});
    if (!m.ok()) {
      *detail = m.status().ToString();
      return m.status().reason() == "METADATA_CORRUPT" ? Outcome::kRefused : Outcome::kSilentLoss;
    }
    std::map<std::string, std::string> seen;
    Status st = (*m)->Scan("as/", PrefixEnd("as/"), [&](std::string_view k, std::string_view v) {
      seen.emplace(std::string(k), std::string(v));
      return true;
    });
    if (!st.ok()) {
      *detail = st.ToString();
      return st.reason() == "METADATA_CORRUPT" ? Outcome::kLoudOnRead : Outcome::kSilentLoss;
    }
    for (int i = 0; i < kCommits; ++i) {
      auto it = seen.find(Key(i));
      if (it == seen.end() || it->second != Value(i)) {
        *detail = "key " + Key(i) + (it == seen.end() ? " missing" : " changed");
        return Outcome::kSilentLoss;
      }
    }
    return Outcome::kIntact;
  }

  static void FlipByte(const std::string& file, uint64_t offset) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(static_cast<char>(c ^ 0x20));
  }

  TempDir dir_;
};

TEST_F(MetaDurabilityTest, WalDamageAtAnyOffsetIsNeverSilent) {
  Make(false);
  ASSERT_EQ(Files(".log").size(), 1u);
  const uint64_t size = fs::file_size(Files(".log")[0]);
  ASSERT_GT(size, 4000u);
  int refused = 0, cases = 0;
  auto run = [&](const std::string& what, const std::function<void(const std::string&)>& damage) {
    Make(false);
    damage(Files(".log")[0]);
    std::string detail;
    Outcome o = Judge(&detail);
    ++cases;
    if (o == Outcome::kRefused) ++refused;
    EXPECT_NE(o, Outcome::kSilentLoss) << what << ": " << detail;
  };
  for (uint64_t off = 0; off < size; off += 97)
    run("flip at " + std::to_string(off), [&](const std::string& f) { FlipByte(f, off); });
  for (uint64_t off = 0; off < size; off += 131)
    run("truncate at " + std::to_string(off),
        [&](const std::string& f) { fs::resize_file(f, off); });
  run("delete", [](const std::string& f) { fs::remove(f); });
  // Every case damages a committed record: none may open as if whole.
  EXPECT_EQ(refused, cases);
}

// Every writable open flushes the log it replays (a kept log could be lost
// in the middle of others without notice), so a short call leaves one log;
// a writer that leaves a large one flushes it at close, so that read-only
// opens (which cannot flush) do not replay megabytes.
TEST_F(MetaDurabilityTest, LogsLeftForReplayStayFewAndSmall) {
  Make(/*flush=*/false);
  auto log_bytes = [&] {
    uint64_t total = 0;
    for (const auto& f : Files(".log")) total += fs::file_size(f);
    return total;
  };
  for (int round = 0; round < 10; ++round) {  // short CLI calls, one commit each
    auto m = OpenMetaStore(Url(), {});
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    AIFS_ASSERT_OK(RunTransaction(
        **m, [&](MetaTxn& txn) { return txn.Put(Key(kCommits + round), Value(round)); }));
    EXPECT_LE(Files(".log").size(), 2u) << "round " << round;
  }
  {
    // One long session writes far more than the bound: its close flushes.
    auto m = OpenMetaStore(Url(), {});
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    for (int i = 0; i < 20; ++i)
      AIFS_ASSERT_OK(RunTransaction(**m, [&](MetaTxn& txn) {
        return txn.Put(Key(1000 + i), std::string(64 << 10, static_cast<char>('A' + i)));
      }));
    EXPECT_GT(log_bytes(), uint64_t{1} << 20);
  }
  EXPECT_LT(log_bytes(), uint64_t{256} << 10) << "left for the next open to replay";
  // Everything is there, read-only and writable.
  for (bool read_only : {true, false}) {
    auto m = OpenMetaStore(Url(), {.read_only = read_only});
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    for (int i : {0, kCommits + 9}) {
      auto v = (*m)->Get(Key(i));
      ASSERT_TRUE(v.ok() && v->has_value()) << i;
    }
    auto big = (*m)->Get(Key(1019));
    ASSERT_TRUE(big.ok() && big->has_value());
    EXPECT_EQ(**big, std::string(64 << 10, 'T'));
  }
}

TEST_F(MetaDurabilityTest, RefusalSaysWhereHistoryStops) {
  Make(false);
  fs::resize_file(Files(".log")[0], fs::file_size(Files(".log")[0]) / 2);
  auto m = OpenMetaStore(Url(), {});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kDataLoss);
  EXPECT_EQ(m.status().reason(), "METADATA_CORRUPT");
  EXPECT_NE(m.status().message().find("intact up to sequence"), std::string::npos)
      << m.status().message();
  EXPECT_NE(m.status().message().find("was committed"), std::string::npos);
  // Refusing changed nothing: the same refusal again.
  auto again = OpenMetaStore(Url(), {});
  EXPECT_EQ(again.status().message(), m.status().message());
}

TEST_F(MetaDurabilityTest, SstDamageIsRefusedOrLoudOnRead) {
  Make(true);
  ASSERT_FALSE(Files(".sst").empty());
  const uint64_t size = fs::file_size(Files(".sst")[0]);
  int cases = 0;
  for (uint64_t off = 0; off < size; off += 53) {
    Make(true);
    FlipByte(Files(".sst")[0], off);
    std::string detail;
    EXPECT_NE(Judge(&detail), Outcome::kSilentLoss) << "flip at " << off << ": " << detail;
    ++cases;
  }
  for (const char* action : {"truncate", "delete"}) {
    Make(true);
    if (std::string(action) == "delete")
      fs::remove(Files(".sst")[0]);
    else
      fs::resize_file(Files(".sst")[0], size / 2);
    std::string detail;
    EXPECT_EQ(Judge(&detail), Outcome::kRefused) << action << ": " << detail;
  }
  EXPECT_GT(cases, 20);
}

TEST_F(MetaDurabilityTest, CheckIntegrityReadsEverySstBlock) {
  Make(true);
  {
    auto m = OpenMetaStore(Url(), {});
    ASSERT_TRUE(m.ok());
    auto check = (*m)->CheckIntegrity(true);
    ASSERT_TRUE(check.ok()) << check.status().ToString();
    EXPECT_GE(check->sequence, static_cast<uint64_t>(kCommits));
    EXPECT_EQ(check->high_water, check->sequence);
    EXPECT_GE(check->files_checked, 1u);
  }
  // A flipped byte in the middle of the data: opening does not read it, the
  // check does.
  const std::string sst = Files(".sst")[0];
  FlipByte(sst, fs::file_size(sst) / 4);
  auto m = OpenMetaStore(Url(), {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto check = (*m)->CheckIntegrity(true);
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.status().reason(), "METADATA_CORRUPT");
}

TEST_F(MetaDurabilityTest, StaleOrForeignDatabaseIsRefused) {
  Make(false);
  // A copy of the store taken now, then more commits: putting the old copy
  // back would silently roll back committed writes.
  fs::copy(Dir(), dir_.Sub("old"), fs::copy_options::recursive);
  {
    auto m = OpenMetaStore(Url(), {});
    ASSERT_TRUE(m.ok());
    AIFS_ASSERT_OK(RunTransaction(**m, [](MetaTxn& t) { return t.Put("as/default/late", "x"); }));
  }
  fs::remove_all(Dir());
  fs::rename(dir_.Sub("old"), Dir());
  auto m = OpenMetaStore(Url(), {});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().reason(), "METADATA_CORRUPT");
  EXPECT_NE(m.status().message().find("committed writes are missing"), std::string::npos)
      << m.status().message();
  // Another database altogether in its place.
  fs::remove_all(Dir());
  auto fresh = OpenMetaStore(Url(), {.create = true});
  ASSERT_FALSE(fresh.ok());
  EXPECT_EQ(fresh.status().reason(), "METADATA_CORRUPT");
  EXPECT_NE(fresh.status().message().find("was last written here"), std::string::npos)
      << fresh.status().message();
}

// A crash while RocksDB writes a record that spans log blocks can leave it
// cut short (seen in CI: a transaction commit killed mid-write). That write
// was never acknowledged, and the high-water file does not vouch for it: the
// store opens without it. The same cut under a mark that vouches for the
// record is a lost commit and is refused.
TEST_F(MetaDurabilityTest, TornLastRecordAfterACrashIsDropped) {
  const std::string hw_file = RocksDbMetaStore::HighWaterPath(Dir());
  for (bool vouched : {false, true}) {
    SCOPED_TRACE(vouched ? "the mark vouches for the torn record" : "a crash tore it");
    Make(false);
    auto before = ReadFileToString(hw_file);
    ASSERT_TRUE(before.ok());
    {
      auto m = OpenMetaStore(Url(), {});
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      AIFS_ASSERT_OK(RunTransaction(
          **m, [](MetaTxn& t) { return t.Put("as/default/big", std::string(200000, 'b')); }));
    }
    if (!vouched) {
      AIFS_ASSERT_OK(WriteFileAtomic(hw_file, *before, 0600));
    }
    std::vector<std::string> logs = Files(".log");
    std::sort(logs.begin(), logs.end());
    ASSERT_FALSE(logs.empty());
    const uint64_t size = fs::file_size(logs.back());
    ASSERT_GT(size, 200000u);
    fs::resize_file(logs.back(), size - 50000);  // inside the big record
    auto m = OpenMetaStore(Url(), {});
    if (vouched) {
      ASSERT_FALSE(m.ok());
      EXPECT_EQ(m.status().reason(), "METADATA_CORRUPT");
      continue;
    }
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    ASSERT_EQ((*m)->SalvageNotes().size(), 1u);
    EXPECT_NE((*m)->SalvageNotes()[0].find("torn"), std::string::npos);
    for (int i = 0; i < kCommits; ++i) {
      auto v = (*m)->Get(Key(i));
      ASSERT_TRUE(v.ok() && v->has_value()) << Key(i);
      EXPECT_EQ(**v, Value(i));
    }
    auto big = (*m)->Get("as/default/big");
    ASSERT_TRUE(big.ok());
    EXPECT_FALSE(big->has_value());
    AIFS_ASSERT_OK(RunTransaction(**m, [](MetaTxn& t) { return t.Put("as/default/after", "x"); }));
    m->reset();
    auto again = OpenMetaStore(Url(), {});
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_TRUE((*again)->SalvageNotes().empty());
  }
}

// A writer killed at any moment leaves a store that opens (absolute
// consistency must not refuse a crash) with every commit it acknowledged.
TEST_F(MetaDurabilityTest, KilledWriterAlwaysReopensWithItsCommits) {
  {
    auto m = OpenMetaStore(Url(), {.create = true});
    ASSERT_TRUE(m.ok());
  }
  for (int round = 0; round < 12; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      auto m = OpenMetaStore(Url(), {});
      if (!m.ok()) ::_exit(3);
      auto batch = (*m)->NewBatch();
      for (int i = 0;; ++i) {
        const std::string k = "as/r" + std::to_string(round) + "/" + std::to_string(100000 + i);
        // Unsynced batch writes interleave with synced commits, as puts do.
        (void)batch->Put("ch/r/" + std::to_string(i), std::string(300, 'c'));
        (void)batch->Write();
        if (!RunTransaction(**m, [&](MetaTxn& t) { return t.Put(k, Value(i)); }).ok()) ::_exit(4);
        if (::write(fds[1], &i, sizeof i) != sizeof i) ::_exit(5);
      }
    }
    ::close(fds[1]);
    int acked = -1, got = 0;
    const int stop_after = 20 + round * 37;
    while (::read(fds[0], &got, sizeof got) == sizeof got) {
      acked = got;
      if (acked >= stop_after) {
        ::kill(pid, SIGKILL);
        break;
      }
    }
    // Commits the child finished after its last report may exist too.
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited " << WEXITSTATUS(status);
    auto m = OpenMetaStore(Url(), {});
    ASSERT_TRUE(m.ok()) << "round " << round << ": " << m.status().ToString();
    for (int i = 0; i <= acked; ++i) {
      auto v = (*m)->Get("as/r" + std::to_string(round) + "/" + std::to_string(100000 + i));
      ASSERT_TRUE(v.ok());
      ASSERT_TRUE(v->has_value()) << "round " << round << ": acknowledged commit " << i << " lost";
    }
  }
}

TEST_F(MetaDurabilityTest, CheckpointIsAConsistentCopy) {
  Make(false);
  auto m = OpenMetaStore(Url(), {});
  ASSERT_TRUE(m.ok());
  auto seq = (*m)->Checkpoint(dir_.Sub("backup"));
  ASSERT_TRUE(seq.ok()) << seq.status().ToString();
  EXPECT_GE(*seq, static_cast<uint64_t>(kCommits));
  // The store goes on; the copy stays as it was.
  AIFS_ASSERT_OK(RunTransaction(**m, [](MetaTxn& t) { return t.Put("as/default/after", "x"); }));
  EXPECT_EQ((*m)->Checkpoint(dir_.Sub("backup")).status().reason(), "BACKUP_EXISTS");
  auto copy = OpenMetaStore("rocksdb://" + dir_.Sub("backup"), {});
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  for (int i = 0; i < kCommits; ++i) {
    auto v = (*copy)->Get(Key(i));
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(*v, std::optional<std::string>(Value(i)));
  }
  auto after = (*copy)->Get("as/default/after");
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->has_value());
}

// A tmpfs of `mib` MiB mounted at `dir` while it lives (root only), to fill.
class Tmpfs {
 public:
  Tmpfs(const std::string& dir, int mib) : dir_(dir) {
    if (::geteuid() != 0) {
      why_ = "mounting a tmpfs needs root";
      return;
    }
    fs::create_directories(dir);
    mounted_ = Mount("mount -t tmpfs -o size=" + std::to_string(mib) + "m tmpfs ");
    if (!mounted_) why_ = "cannot mount a tmpfs here";
  }
  ~Tmpfs() {
    if (mounted_) (void)std::system(("umount -l " + dir_).c_str());
  }
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }
  bool Resize(int mib) { return Mount("mount -o remount,size=" + std::to_string(mib) + "m "); }

 private:
  bool Mount(const std::string& command) { return std::system((command + dir_).c_str()) == 0; }
  std::string dir_, why_;
  bool mounted_ = false;
};

// RocksDB itself on a full disk (the engine's reserve normally keeps it from
// getting there): commits fail with STORAGE_FULL and never abort the process
// (Debian's librocksdb asserts in its file logger after a failed write, so
// the store must never use one), reads go on, and once space is back the
// next commit succeeds in the same process: the store reopens its database.
TEST_F(MetaDurabilityTest, RocksDbOnAFullDiskRecoversWithoutRestart) {
  const std::string mnt = dir_.Sub("tfs");
  Tmpfs tmpfs(mnt, 24);
  if (!tmpfs.mounted()) GTEST_SKIP() << tmpfs.why();
  const std::string url = "rocksdb://" + mnt + "/meta";
  for (int round = 0; round < 3; ++round) {
    auto m = OpenMetaStore(url, {.create = true});
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    std::vector<std::string> committed;
    Status failed;
    const std::string value(8000, static_cast<char>('A' + round));
    for (int i = 0; i < 20000 && failed.ok(); ++i) {
      const std::string key = "as/r" + std::to_string(round) + "/" + std::to_string(100000 + i);
      failed = RunTransaction(**m, [&](MetaTxn& t) { return t.Put(key, value); });
      if (failed.ok()) committed.push_back(key);
    }
    ASSERT_FALSE(failed.ok()) << "24 MiB never filled";
    EXPECT_EQ(failed.reason(), "STORAGE_FULL") << failed.ToString();
    // Later writes fail fast with the same reason; reads work.
    auto again = RunTransaction(**m, [](MetaTxn& t) { return t.Put("as/x", "y"); });
    EXPECT_EQ(again.reason(), "STORAGE_FULL") << again.ToString();
    auto first = (*m)->Get(committed.front());
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    EXPECT_EQ(*first, std::optional<std::string>(value));
    EXPECT_FALSE((*m)->CheckWritable().ok());
    // Space comes back: the tmpfs grows by 8 MiB.
    ASSERT_TRUE(tmpfs.Resize(32 + 8 * round));
    AIFS_EXPECT_OK((*m)->CheckWritable());
    AIFS_ASSERT_OK(RunTransaction(**m, [&](MetaTxn& t) {
      return t.Put("as/after" + std::to_string(round), "written without a restart");
    }));
    m->reset();
    // Every acknowledged commit is there after a reopen.
    auto reopened = OpenMetaStore(url, {});
    ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
    for (const std::string& k : committed) {
      auto v = (*reopened)->Get(k);
      ASSERT_TRUE(v.ok());
      ASSERT_TRUE(v->has_value()) << "round " << round << ": committed " << k << " lost";
    }
    // The next round fills the disk again.
    ASSERT_TRUE(tmpfs.Resize(24 + 8 * (round + 1)));
  }
}

// Compaction on a full disk (it needs room for the files it writes): an
// ordinary STORAGE_FULL, the old files stay and reads go on; once there is
// room again it runs in the same process and leaves no old value behind.
TEST_F(MetaDurabilityTest, CompactOnAFullDiskFailsCleanlyAndWorksOnceThereIsRoom) {
  const std::string mnt = dir_.Sub("tfs");
  Tmpfs tmpfs(mnt, 24);
  if (!tmpfs.mounted()) GTEST_SKIP() << tmpfs.why();
  auto m = OpenMetaStore("rocksdb://" + mnt + "/meta", {.create = true});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto value = [](int i, int version) {
    const Bytes b = RandomBytes(20000, static_cast<uint64_t>(i * 10 + version));
    return std::string(AsChars(b));
  };
  constexpr int kKeys = 300;  // 6 MiB per version
  for (int version : {1, 2}) {
    for (int i = 0; i < kKeys; ++i)
      AIFS_ASSERT_OK(
          RunTransaction(**m, [&](MetaTxn& t) { return t.Put(Key(i), value(i, version)); }));
    if (version == 1) {
      AIFS_ASSERT_OK((*m)->Compact());
    }
  }
  // Fill the disk but for 1 MiB: the flush of version 2 cannot fit.
  const std::string filler = mnt + "/filler";
  {
    const uint64_t avail = fs::space(mnt).available;
    ASSERT_GT(avail, uint64_t{2} << 20);
    std::ofstream f(filler, std::ios::binary);
    const std::string block(1 << 20, 'x');
    for (uint64_t n = 0; n + (2 << 20) < avail; n += block.size())
      f.write(block.data(), block.size());
  }
  const Status full = (*m)->Compact();
  AIFS_EXPECT_STATUS(full, kResourceExhausted, "STORAGE_FULL");
  auto read = (*m)->Get(Key(7));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, std::optional<std::string>(value(7, 2)));
  EXPECT_FALSE(FilesContaining(mnt, value(7, 1)).empty()) << "the old files stay";

  fs::remove(filler);
  AIFS_EXPECT_OK((*m)->CheckWritable());
  AIFS_ASSERT_OK((*m)->Compact());
  EXPECT_EQ(FilesContaining(mnt, value(7, 1)), std::vector<std::string>{});
  EXPECT_FALSE(FilesContaining(mnt, value(7, 2)).empty());
  for (int i = 0; i < kKeys; i += 37) {
    auto v = (*m)->Get(Key(i));
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(*v, std::optional<std::string>(value(i, 2)));
  }
}

// The engine end to end: a damaged WAL refuses the open, gc never runs on
// it, and recovery salvages every intact record, rebuilds an asset whose
// record alone was lost, and never deletes a chunk object.
class RecoveryTest : public ::testing::Test {
 protected:
  static Bytes ReadAll(Api& api, const std::string& ns, const AssetId& id) {
    auto r = ReadBytes(api, ns, id);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Bytes();
  }
  void SetUp() override { AIFS_ASSERT_OK(Engine::Init(dir_.path(), {})); }
  std::unique_ptr<Engine> Open() {
    auto e = Engine::Open({.data_dir = dir_.path(), .threads = 2});
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(e).value() : nullptr;
  }
  size_t Objects() const { return TallyFiles(dir_.Sub("chunks")).files; }
  TempDir dir_;
};

TEST_F(RecoveryTest, LostAssetRecordIsRebuiltFromItsChunk) {
  Bytes small = RandomBytes(3000, 1), other = RandomBytes(5000, 2);
  AssetId small_id, other_id;
  {
    auto e = Open();
    ASSERT_TRUE(e);
    auto a = PutBytes(*e, "default", small);
    ASSERT_TRUE(a.ok());
    small_id = a->asset.id;
    auto b = PutBytes(*e, "default", other);
    ASSERT_TRUE(b.ok());
    other_id = b->asset.id;
    // The asset record of `small` alone goes missing (as a lost WAL record
    // would leave it): its chunk record and object stay.
    AIFS_ASSERT_OK(RunTransaction(*e->store().meta, [&](MetaTxn& t) {
      return t.Delete(keys::Asset("default", small_id.bytes()));
    }));
  }
  const size_t objects = Objects();
  auto dry = RecoverStore({.data_dir = dir_.path(), .dry_run = true});
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_FALSE(dry->damaged);
  EXPECT_EQ(dry->assets_rebuilt, 1u);
  EXPECT_EQ(Objects(), objects);
  auto report = RecoverStore({.data_dir = dir_.path()});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->assets_rebuilt, 1u);
  EXPECT_EQ(report->refcounts_fixed, 1u);  // the chunk lost its only reference
  EXPECT_TRUE(report->lost_assets.empty());
  auto e = Open();
  ASSERT_TRUE(e);
  // Same bytes, so the same AssetID: the asset is back, marked as recovered.
  auto info = e->StatAsset("default", small_id, false);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_TRUE(info->metadata.count("recovered"));
  EXPECT_EQ(ReadAll(*e, "default", small_id), small);
  EXPECT_EQ(ReadAll(*e, "default", other_id), other);
  auto gc = e->CollectGarbage(false);
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->reclaimed_objects, 0u);
  auto ns = e->GetNamespace("default");
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(ns->asset_count, 2u);
}

TEST_F(RecoveryTest, DamagedWalIsRefusedThenSalvagedWithoutDeletingData) {
  std::vector<AssetId> ids;
  {
    auto e = Open();
    ASSERT_TRUE(e);
    for (int i = 0; i < 6; ++i) {
      auto r = PutBytes(*e, "default", RandomBytes(2000 + i, 10 + i));
      ASSERT_TRUE(r.ok());
      ids.push_back(r->asset.id);
    }
  }
  std::string wal;
  for (const auto& f : fs::directory_iterator(dir_.Sub("meta")))
    if (f.path().extension() == ".log") wal = f.path().string();
  ASSERT_FALSE(wal.empty());
  fs::resize_file(wal, fs::file_size(wal) - 100);  // the last commit's tail
  auto refused = Engine::Open({.data_dir = dir_.path()});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().reason(), "METADATA_CORRUPT");
  EXPECT_NE(refused.status().message().find("aifs recover"), std::string::npos);
  const size_t objects = Objects();
  auto report = RecoverStore({.data_dir = dir_.path()});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->damaged);
  EXPECT_TRUE(fs::exists(report->saved_copy));
  // Every chunk object is still somewhere: in the store or in lost+found.
  size_t kept = Objects();
  if (!report->lost_found.empty())
    for (const auto& f : fs::directory_iterator(report->lost_found)) (void)f, ++kept;
  EXPECT_EQ(kept, objects);
  auto e = Open();
  ASSERT_TRUE(e);
  size_t readable = 0;
  for (const AssetId& id : ids)
    if (e->StatAsset("default", id, false).ok()) ++readable;
  EXPECT_GE(readable, 5u);  // at most the damaged last commit is gone
  auto check = e->CheckMetadata();
  EXPECT_TRUE(check.ok()) << check.status().ToString();
}

// Defence in depth: even on an open store, gc deletes nothing once the
// high-water file says committed records are missing.
TEST_F(RecoveryTest, GcRefusesWhenHistoryLooksCut) {
  auto e = Open();
  ASSERT_TRUE(e);
  ASSERT_TRUE(PutBytes(*e, "default", RandomBytes(5000, 3)).ok());
  // An orphan gc would otherwise reclaim.
  AIFS_ASSERT_OK(e->store().chunks->Put("00112233445566778899aabbccddeeff", AsBytes("x")));
  const std::string hwm = RocksDbMetaStore::HighWaterPath(dir_.Sub("meta"));
  std::string text = ReadFileToString(hwm).value();
  const size_t at = text.find("sequence ");
  ASSERT_NE(at, std::string::npos);
  text = text.substr(0, at) + "sequence 999999999\n";
  std::ofstream(hwm, std::ios::trunc) << text;
  auto gc = e->CollectGarbage(false);
  ASSERT_FALSE(gc.ok());
  EXPECT_EQ(gc.status().reason(), "METADATA_CORRUPT");
  EXPECT_EQ(gc.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(e->CheckMetadata().status().reason(), "METADATA_CORRUPT");
  Bytes still;
  AIFS_EXPECT_OK(e->store().chunks->Get("00112233445566778899aabbccddeeff", still));
}

TEST_F(RecoveryTest, BackupRestoresIntoANewDirectoryThatVerifies) {
  AssetId id;
  Bytes data = RandomBytes(3 << 20, 7);
  {
    auto e = Open();
    ASSERT_TRUE(e);
    auto r = PutBytes(*e, "default", data);
    ASSERT_TRUE(r.ok());
    id = r->asset.id;
    auto b = e->Backup(dir_.Sub("backup"));
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_TRUE(b->keys_included);
    EXPECT_EQ(e->Backup(dir_.Sub("backup")).status().reason(), "BACKUP_EXISTS");
    // Written after the backup: not in it.
    ASSERT_TRUE(PutBytes(*e, "default", RandomBytes(100, 8)).ok());
  }
  TempDir target;
  const std::string restored = target.Sub("store");
  auto r = RestoreBackup(
      {.backup_dir = dir_.Sub("backup"), .data_dir = restored, .chunks_dir = dir_.Sub("chunks")});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->chunk_objects, 0u);
  auto again = RestoreBackup({.backup_dir = dir_.Sub("backup"), .data_dir = restored});
  EXPECT_EQ(again.status().reason(), "STORE_ALREADY_INITIALIZED");
  auto e = Engine::Open({.data_dir = restored});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(ReadAll(**e, "default", id), data);
  auto v = (*e)->VerifyAsset("default", id);
  ASSERT_TRUE(v.ok());
  AIFS_EXPECT_OK(v->result);
  auto page = (*e)->ListAssets({.ns = "default"});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->assets.size(), 1u);
  AIFS_EXPECT_OK((*e)->CheckMetadata().status());
}

}  // namespace
}  // namespace aifs::test
