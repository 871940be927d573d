// Small helpers shared by the unit tests: a temp directory per test, random
// and text-like data, status matchers, and put/read shortcuts for the engine.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "aifs/api/api.h"
#include "aifs/core/blake3.h"
#include "aifs/core/bytes.h"
#include "aifs/core/hex.h"
#include "aifs/core/status.h"
#include "aifs/engine/engine.h"
#include "aifs/storage/chunker.h"
#include "aifs/store/v1/records.pb.h"

namespace aifs::test {

namespace fs = std::filesystem;

// 32 random bytes (tree keys, IDs) from a seeded generator.
inline Digest RandomDigest(std::mt19937_64& rng) {
  Digest d;
  for (size_t i = 0; i < d.size(); i += 8) {
    uint64_t v = rng();
    std::memcpy(d.data() + i, &v, 8);
  }
  return d;
}

// A fresh directory under /tmp, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/aifs-test-XXXXXX";
    char* p = ::mkdtemp(tmpl);
    if (p == nullptr) {
      ADD_FAILURE() << "mkdtemp failed";
      return;
    }
    path_ = p;
  }
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Deterministic pseudo-random bytes (the seed names the data set).
inline Bytes RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    for (int k = 0; k < 8; ++k) out[i + k] = static_cast<uint8_t>(v >> (8 * k));
  }
  uint64_t v = rng();
  for (int k = 0; i < n && k < 8; ++i, ++k) out[i] = static_cast<uint8_t>(v >> (8 * k));
  return out;
}

// Text-like, compressible bytes: words drawn from a small vocabulary.
inline Bytes TextBytes(size_t n, uint64_t seed) {
  static const char* kWords[] = {"tensor ", "weights ", "layer ",  "embedding ", "the ",
                                 "model ",  "shard ",   "float32 ", "batch\n",   "gradient ",
                                 "of ",     "and ",     "attention ", "head ",   "0.125 "};
  std::mt19937_64 rng(seed);
  std::string s;
  s.reserve(n + 16);
  while (s.size() < n) s += kWords[rng() % (sizeof(kWords) / sizeof(kWords[0]))];
  s.resize(n);
  return Bytes(s.begin(), s.end());
}

// float32 values of a smooth field with a little noise (like the float32 data
// set of aifs_ingest_bench), little-endian.
inline Bytes FloatField(size_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> noise(-0.01f, 0.01f);
  Bytes out(count * 4);
  for (size_t i = 0; i < count; ++i) {
    const float v = std::sin(static_cast<float>(i % 1024) * 0.01f) *
                        std::cos(static_cast<float>(i / 1024) * 0.003f) +
                    noise(rng);
    std::memcpy(out.data() + 4 * i, &v, 4);
  }
  return out;
}

inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

inline Bytes Concat(std::initializer_list<ByteSpan> parts) {
  Bytes out;
  for (ByteSpan p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline Bytes Slice(const Bytes& b, size_t off, size_t len) {
  return Bytes(b.begin() + static_cast<ptrdiff_t>(off),
               b.begin() + static_cast<ptrdiff_t>(off + len));
}

// Entry i of a chunk record's segment table, read as docs/storage-format.md
// describes it (a little-endian u32 per segment), not through the sealer.
inline uint32_t SegmentTableEntry(const store::v1::ChunkRecord& rec, size_t i) {
  uint32_t v = 0;
  for (size_t b = 0; b < 4; ++b)
    v |= uint32_t{static_cast<uint8_t>(rec.segment_table()[4 * i + b])} << (8 * b);
  return v;
}

// Chunking small enough that boundaries are cheap to hit.
inline ChunkerParams SmallChunks() { return ChunkerParams{4096, 16384, 65536}; }
inline InitOptions SmallInit() {
  InitOptions o;
  o.chunking = SmallChunks();
  return o;
}

// gtest predicates on Status / Result.
inline ::testing::AssertionResult IsStatus(const Status& st, Code code, const std::string& reason) {
  if (st.code() == code && st.reason() == reason) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected " << CodeName(code) << " " << reason
                                       << ", got " << st.ToString();
}
inline ::testing::AssertionResult IsOk(const Status& st) {
  if (st.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << st.ToString();
}
#define AIFS_ASSERT_OK(expr) ASSERT_TRUE(::aifs::test::IsOk((expr)))
#define AIFS_EXPECT_OK(expr) EXPECT_TRUE(::aifs::test::IsOk((expr)))
#define AIFS_EXPECT_STATUS(expr, code, reason) \
  EXPECT_TRUE(::aifs::test::IsStatus((expr), ::aifs::Code::code, reason))
#define AIFS_ASSERT_STATUS(expr, code, reason) \
  ASSERT_TRUE(::aifs::test::IsStatus((expr), ::aifs::Code::code, reason))

// Regular files under `dir` (recursively): count and total size.
struct FileTally {
  size_t files = 0;
  uint64_t bytes = 0;
};
inline FileTally TallyFiles(const std::string& dir) {
  FileTally t;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return t;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    ++t.files;
    t.bytes += it->file_size(ec);
  }
  return t;
}
inline std::vector<std::string> ListFiles(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_regular_file(ec)) out.push_back(it->path().string());
  std::sort(out.begin(), out.end());
  return out;
}

inline Bytes ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
inline void WriteFileBytes(const std::string& path, ByteSpan data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

// Files under `dir` (recursively) whose bytes contain `needle`.
inline std::vector<std::string> FilesContaining(const std::string& dir, std::string_view needle) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const Bytes b = ReadFileBytes(e.path().string());
    const std::string_view s(reinterpret_cast<const char*>(b.data()), b.size());
    if (s.find(needle) != std::string_view::npos) out.push_back(e.path().string());
  }
  return out;
}

// Starts one (disabled) test of this binary in a fresh process image (so it
// inherits no threads), with this process's environment plus `extra_env`
// and stdout discarded; `close_in_child` (unless -1) is closed in the child
// first. Returns its pid, -1 when it could not start.
pid_t SpawnSelfTest(const std::string& test, const std::vector<std::string>& extra_env,
                    int close_in_child = -1);

// `aifs key rewrap` (batches of one record) on the store in `dir`, run in a
// fresh process image and SIGKILLed once it has committed `batches`
// batches, while it works on the next (rewrap_victim.cpp). The store must
// not be open in this process.
struct KilledRewrap {
  int batches_seen = 0;  // committed batches the victim reported
  int wait_status = 0;   // WIFSIGNALED: it was killed (not finished first)
};
KilledRewrap KillRewrapMidway(const std::string& dir, int batches);

inline unsigned FileMode(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0xffffffffu;
  return st.st_mode & 07777;
}

// Cut points of `data` as the engine computes them: bytes arrive in pieces of
// the given sizes (cycled), and NextCut is only asked with >= max buffered
// bytes unless the stream has ended. Returns chunk lengths.
inline std::vector<size_t> CutLikeEngine(const Chunker& chunker, ByteSpan data,
                                         const std::vector<size_t>& pieces) {
  const size_t max = chunker.params().max_size;
  std::vector<size_t> cuts;
  Bytes buf;
  size_t pos = 0, fed = 0, k = 0;
  auto drain = [&](bool eof) {
    while (buf.size() - pos >= max || (eof && pos < buf.size())) {
      size_t cut = chunker.NextCut(ByteSpan(buf.data() + pos, buf.size() - pos));
      cuts.push_back(cut);
      pos += cut;
    }
    if (pos > 4 * max) {
      buf.erase(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(pos));
      pos = 0;
    }
  };
  while (fed < data.size()) {
    size_t n = std::min(pieces.empty() ? data.size() : pieces[k++ % pieces.size()],
                        data.size() - fed);
    if (n == 0) n = 1;
    buf.insert(buf.end(), data.begin() + static_cast<ptrdiff_t>(fed),
               data.begin() + static_cast<ptrdiff_t>(fed + n));
    fed += n;
    drain(false);
  }
  drain(true);
  return cuts;
}

// Random piece sizes in [1, max_piece].
inline std::vector<size_t> RandomPieces(size_t count, size_t max_piece, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<size_t> out(count);
  for (auto& p : out) p = 1 + rng() % max_piece;
  return out;
}

// Puts `data` through BeginPut/Write/Commit, split into `pieces` (cycled;
// empty = one write).
inline Result<PutResult> PutBytes(Api& api, ByteSpan data, PutOptions options = {},
                                  const std::vector<size_t>& pieces = {}) {
  AIFS_ASSIGN_OR_RETURN(auto writer, api.BeginPut(options));
  size_t off = 0, k = 0;
  while (off < data.size()) {
    size_t n = pieces.empty() ? data.size() : std::max<size_t>(1, pieces[k++ % pieces.size()]);
    n = std::min(n, data.size() - off);
    AIFS_RETURN_IF_ERROR(writer->Write(data.subspan(off, n)));
    off += n;
  }
  return writer->Commit();
}
inline Result<PutResult> PutBytes(Api& api, const std::string& ns, ByteSpan data) {
  PutOptions o;
  o.ns = ns;
  return PutBytes(api, data, o);
}

inline Result<Bytes> ReadBytes(Api& api, const std::string& ns, const AssetId& id,
                               ReadRange range = {}) {
  Bytes out;
  Status st = api.ReadAsset(ns, id, range, [&](ByteSpan b) {
    out.insert(out.end(), b.begin(), b.end());
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

inline AssetId IdOf(ByteSpan data) { return AssetId(Blake3::Hash(data)); }

// A data directory with an initialised store and an open engine.
class EngineFixture : public ::testing::Test {
 protected:
  void InitStore(const InitOptions& options = SmallInit()) {
    AIFS_ASSERT_OK(Engine::Init(dir_.path(), options));
    Reopen();
  }
  void Reopen(bool read_only = false) {
    engine_.reset();
    EngineOptions eo;
    eo.data_dir = dir_.path();
    eo.read_only = read_only;
    auto e = Engine::Open(eo);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
  }
  Engine& engine() { return *engine_; }
  std::string ChunkDir() const { return dir_.Sub("chunks"); }

  // Puts and asserts success.
  PutResult MustPut(ByteSpan data, const std::string& ns = "default",
                    const std::vector<size_t>& pieces = {}) {
    PutOptions o;
    o.ns = ns;
    auto r = PutBytes(*engine_, data, o, pieces);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return PutResult{};
    return *r;
  }
  Bytes MustRead(const AssetId& id, const std::string& ns = "default", ReadRange range = {}) {
    auto r = ReadBytes(*engine_, ns, id, range);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {};
    return *r;
  }
  NamespaceInfo MustNs(const std::string& ns = "default") {
    auto r = engine_->GetNamespace(ns);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {};
    return *r;
  }

  TempDir dir_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace aifs::test
