// Artifact kind: PackDirectory determinism and round trips, every rejection
// reason of ValidateArtifact (on archives written byte by byte here, so each
// test breaks exactly one rule), safe extraction, the manifest schema and the
// KindValidator.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <zip.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "aifs/core/blake3.h"
#include "aifs/core/hex.h"
#include "aifs/kinds/artifact.h"
#include "aifs/storage/spill_buffer.h"

namespace aifs {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/aifs-artifact-test-XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    EXPECT_NE(p, nullptr);
    if (p != nullptr) path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, std::string_view data) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}
std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
std::string RandomText(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// --- a ZIP writer with full control over every header field ------------------

uint32_t Crc32(ByteSpan d) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xffffffffu;
  for (uint8_t b : d) c = table[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

// Raw deflate data, taken from an archive libzip writes.
Bytes Deflate(ByteSpan content) {
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t* sink = zip_source_buffer_create(nullptr, 0, 0, &ze);
  zip_t* za = zip_open_from_source(sink, ZIP_TRUNCATE, &ze);
  zip_source_keep(sink);
  zip_source_t* src = zip_source_buffer(za, content.data(), content.size(), 0);
  zip_int64_t idx = zip_file_add(za, "x", src, 0);
  zip_set_file_compression(za, static_cast<zip_uint64_t>(idx), ZIP_CM_DEFLATE, 9);
  EXPECT_EQ(zip_close(za), 0);
  zip_t* rd = zip_open_from_source(sink, ZIP_RDONLY, &ze);
  EXPECT_NE(rd, nullptr);
  zip_file_t* f = zip_fopen_index(rd, 0, ZIP_FL_COMPRESSED);
  Bytes out;
  uint8_t buf[65536];
  zip_int64_t r;
  while ((r = zip_fread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + r);
  zip_fclose(f);
  zip_close(rd);  // also frees the kept source
  zip_error_fini(&ze);
  return out;
}

struct Member {
  std::string name;
  Bytes payload;      // the bytes stored (compressed data for deflate)
  uint64_t size = 0;  // declared uncompressed size
  uint32_t crc = 0;
  uint16_t method = 0;
  uint16_t flags = 0;
  uint32_t ext_attr = 0100644u << 16;
  uint8_t os = 3;
  int alias_of = -1;  // >= 0: no local header, the central record points at that member's
};

Member Stored(std::string name, ByteSpan content) {
  Member m;
  m.name = std::move(name);
  m.payload.assign(content.begin(), content.end());
  m.size = content.size();
  m.crc = Crc32(content);
  return m;
}
Member Stored(std::string name, std::string_view content) { return Stored(std::move(name), AsBytes(content)); }
Member Deflated(std::string name, ByteSpan content) {
  Member m = Stored(std::move(name), content);
  m.payload = Deflate(content);
  m.method = 8;
  return m;
}
Member Dir(std::string name) {
  Member m = Stored(std::move(name), std::string_view());
  m.ext_attr = (040755u << 16) | 0x10;
  return m;
}

void Put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v));
  b.push_back(static_cast<uint8_t>(v >> 8));
}
void Put32(Bytes& b, uint32_t v) {
  Put16(b, static_cast<uint16_t>(v));
  Put16(b, static_cast<uint16_t>(v >> 16));
}
void Put64(Bytes& b, uint64_t v) {
  Put32(b, static_cast<uint32_t>(v));
  Put32(b, static_cast<uint32_t>(v >> 32));
}

Bytes WriteZip(const std::vector<Member>& members, bool zip64 = false) {
  Bytes out;
  std::vector<uint64_t> offsets;
  for (const Member& m : members) {
    if (m.alias_of >= 0) {
      offsets.push_back(offsets[static_cast<size_t>(m.alias_of)]);
      continue;
    }
    offsets.push_back(out.size());
    Put32(out, 0x04034b50);
    Put16(out, zip64 ? 45 : 20);
    Put16(out, m.flags);
    Put16(out, m.method);
    Put16(out, 0);       // time
    Put16(out, 0x0021);  // date 1980-01-01
    Put32(out, m.crc);
    Put32(out, zip64 ? 0xffffffffu : static_cast<uint32_t>(m.payload.size()));
    Put32(out, zip64 ? 0xffffffffu : static_cast<uint32_t>(m.size));
    Put16(out, static_cast<uint16_t>(m.name.size()));
    Put16(out, zip64 ? 20 : 0);
    out.insert(out.end(), m.name.begin(), m.name.end());
    if (zip64) {
      Put16(out, 0x0001);
      Put16(out, 16);
      Put64(out, m.size);
      Put64(out, m.payload.size());
    }
    out.insert(out.end(), m.payload.begin(), m.payload.end());
  }
  const uint64_t cd_offset = out.size();
  for (size_t i = 0; i < members.size(); ++i) {
    const Member& m = members[i];
    Put32(out, 0x02014b50);
    Put16(out, static_cast<uint16_t>((m.os << 8) | (zip64 ? 45 : 20)));
    Put16(out, zip64 ? 45 : 20);
    Put16(out, m.flags);
    Put16(out, m.method);
    Put16(out, 0);
    Put16(out, 0x0021);
    Put32(out, m.crc);
    Put32(out, zip64 ? 0xffffffffu : static_cast<uint32_t>(m.payload.size()));
    Put32(out, zip64 ? 0xffffffffu : static_cast<uint32_t>(m.size));
    Put16(out, static_cast<uint16_t>(m.name.size()));
    Put16(out, zip64 ? 28 : 0);
    Put16(out, 0);  // comment
    Put16(out, 0);  // disk
    Put16(out, 0);  // internal attributes
    Put32(out, m.ext_attr);
    Put32(out, zip64 ? 0xffffffffu : static_cast<uint32_t>(offsets[i]));
    out.insert(out.end(), m.name.begin(), m.name.end());
    if (zip64) {
      Put16(out, 0x0001);
      Put16(out, 24);
      Put64(out, m.size);
      Put64(out, m.payload.size());
      Put64(out, offsets[i]);
    }
  }
  const uint64_t cd_size = out.size() - cd_offset;
  if (zip64) {
    const uint64_t z = out.size();
    Put32(out, 0x06064b50);
    Put64(out, 44);
    Put16(out, 45);
    Put16(out, 45);
    Put32(out, 0);
    Put32(out, 0);
    Put64(out, members.size());
    Put64(out, members.size());
    Put64(out, cd_size);
    Put64(out, cd_offset);
    Put32(out, 0x07064b50);
    Put32(out, 0);
    Put64(out, z);
    Put32(out, 1);
  }
  Put32(out, 0x06054b50);
  Put16(out, 0);
  Put16(out, 0);
  Put16(out, zip64 ? 0xffff : static_cast<uint16_t>(members.size()));
  Put16(out, zip64 ? 0xffff : static_cast<uint16_t>(members.size()));
  Put32(out, zip64 ? 0xffffffffu : static_cast<uint32_t>(cd_size));
  Put32(out, zip64 ? 0xffffffffu : static_cast<uint32_t>(cd_offset));
  Put16(out, 0);
  return out;
}

using Files = std::vector<std::pair<std::string, std::string>>;

std::string ManifestFor(const Files& files) {
  ArtifactManifest m;
  for (const auto& [path, data] : files) {
    m.files.push_back({path, data.size(), MediaTypeForPath(path), Blake3::Hash(AsBytes(data))});
  }
  std::sort(m.files.begin(), m.files.end(),
            [](const ArtifactFile& a, const ArtifactFile& b) { return a.path < b.path; });
  return SerializeManifest(m);
}

// MANIFEST.json (truthful for `files`) plus the members, stored.
std::vector<Member> GoodMembers(const Files& files) {
  std::vector<Member> ms = {Stored("MANIFEST.json", ManifestFor(files))};
  for (const auto& [p, d] : files) ms.push_back(Stored(p, d));
  return ms;
}

const Files kFiles = {{"config.json", "{\"a\": 1}\n"}, {"weights/w.bin", std::string(3000, 'w')}};

// The archive validated as the engine validates a put: appended to a
// SpillBuffer that keeps nothing in RAM and seals small blocks (so headers
// and records straddle blocks), and read back through it.
Result<ArtifactManifest> ValidateSpilled(ByteSpan zip, const ArtifactLimits& limits = {}) {
  TempDir t;
  SpillBuffer buf(t.path(), 0, /*block_size=*/509);
  for (size_t off = 0; off < zip.size(); off += 777) {
    Status st = buf.Append(zip.subspan(off, std::min<size_t>(777, zip.size() - off)));
    if (!st.ok()) return st;
  }
  return ValidateArtifact(buf, limits);
}

// Refused with `reason`, from memory and from a spill buffer alike.
void ExpectReason(ByteSpan zip, const std::string& reason, const ArtifactLimits& limits = {}) {
  for (bool spilled : {false, true}) {
    auto r = spilled ? ValidateSpilled(zip, limits) : ValidateArtifact(zip, limits);
    ASSERT_FALSE(r.ok()) << "accepted; expected " << reason << (spilled ? " (spilled)" : "");
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
    EXPECT_EQ(r.status().reason(), reason)
        << r.status().ToString() << (spilled ? " (spilled)" : "");
  }
}

// --- packing -------------------------------------------------------------------

void MakeModelDir(const std::string& dir) {
  WriteFile(dir + "/config.json", "{\"hidden\": 384}\n");
  WriteFile(dir + "/model.safetensors", RandomText(200000, 1));
  WriteFile(dir + "/tokenizer/vocab.txt", std::string(5000, 'v'));
  WriteFile(dir + "/tokenizer/big.json", std::string(1500000, '{'));  // > 1 MiB: stored
  WriteFile(dir + "/sub/deep/er/x.py", "print('x')\n");
  WriteFile(dir + "/sub/MANIFEST.json", "not the manifest, just a file\n");
  WriteFile(dir + "/\xc3\xa9t\xc3\xa9.md", "# \xc3\xa9t\xc3\xa9\n");
  WriteFile(dir + "/empty.bin", "");
  WriteFile(dir + "/a-b", "sorts before a/...");
  WriteFile(dir + "/a/b", "inside a");
}

ArtifactOptions Options() {
  ArtifactOptions o;
  ArtifactDependency base;
  base.name = "base-model";
  base.asset = AssetId(Blake3::Hash(AsBytes("base")));
  ArtifactDependency paper;
  paper.name = "paper";
  paper.uri = "https://example.org/paper.pdf";
  o.dependencies = {base, paper};
  o.metadata = {{"team", "vision"}, {"license", "apache-2.0"}};
  return o;
}

TEST(Artifact, PackValidateExtractRoundTrip) {
  TempDir t;
  const std::string src = t.Sub("src");
  MakeModelDir(src);
  Bytes zip;
  ASSERT_TRUE(PackDirectory(src, Options(), zip).ok());
  auto m = ValidateArtifact(zip);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->format, "aifs-artifact/1");
  EXPECT_EQ(m->dependencies, Options().dependencies);
  auto spilled = ValidateSpilled(zip);
  ASSERT_TRUE(spilled.ok()) << spilled.status().ToString();
  EXPECT_EQ(*spilled, *m);
  EXPECT_EQ(m->metadata, Options().metadata);
  std::vector<std::string> paths;
  for (const auto& f : m->files) {
    paths.push_back(f.path);
    const std::string data = ReadFile(src + "/" + f.path);
    EXPECT_EQ(f.size, data.size()) << f.path;
    EXPECT_EQ(f.blake3, Blake3::Hash(AsBytes(data))) << f.path;
    EXPECT_EQ(f.media_type, MediaTypeForPath(f.path));
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"a-b", "a/b", "config.json", "empty.bin", "model.safetensors",
                                             "sub/MANIFEST.json", "sub/deep/er/x.py", "tokenizer/big.json",
                                             "tokenizer/vocab.txt", "\xc3\xa9t\xc3\xa9.md"}));
  auto listed = ReadManifest(zip);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(*listed, *m);

  const std::string out = t.Sub("out/nested");
  ASSERT_TRUE(ExtractArtifact(zip, t.Sub("out")).ok());
  ASSERT_TRUE(ExtractArtifact(zip, out).ok()) << "target created when missing";
  for (const auto& f : m->files) EXPECT_EQ(ReadFile(out + "/" + f.path), ReadFile(src + "/" + f.path));
  EXPECT_FALSE(fs::exists(out + "/MANIFEST.json"));
  EXPECT_EQ(fs::file_size(out + "/empty.bin"), 0u);

  // Packing the extracted tree gives the same bytes.
  Bytes again;
  ASSERT_TRUE(PackDirectory(out, Options(), again).ok());
  EXPECT_EQ(again, zip);
}

TEST(Artifact, PackIsDeterministic) {
  TempDir t;
  const std::string src = t.Sub("src");
  MakeModelDir(src);
  Bytes a, b, c;
  ASSERT_TRUE(PackDirectory(src, Options(), a).ok());
  // New modification times and permissions: same bytes.
  struct timeval tv[2] = {{1000000000, 0}, {1000000000, 0}};
  ASSERT_EQ(::utimes((src + "/config.json").c_str(), tv), 0);
  ASSERT_EQ(::chmod((src + "/model.safetensors").c_str(), 0600), 0);
  ASSERT_TRUE(PackDirectory(src, Options(), b).ok());
  EXPECT_EQ(a, b);
  // Different content or options: different bytes.
  ArtifactOptions o = Options();
  o.metadata["x"] = "y";
  ASSERT_TRUE(PackDirectory(src, o, c).ok());
  EXPECT_NE(a, c);
}

TEST(Artifact, PackCompressionByMediaTypeAndSize) {
  TempDir t;
  MakeModelDir(t.Sub("src"));
  Bytes zip;
  ASSERT_TRUE(PackDirectory(t.Sub("src"), Options(), zip).ok());
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t* s = zip_source_buffer_create(zip.data(), zip.size(), 0, &ze);
  zip_t* za = zip_open_from_source(s, ZIP_RDONLY, &ze);
  ASSERT_NE(za, nullptr);
  auto method = [&](const char* name) {
    zip_stat_t st;
    EXPECT_EQ(zip_stat(za, name, 0, &st), 0) << name;
    return st.comp_method;
  };
  EXPECT_EQ(zip_get_name(za, 0, 0), std::string("MANIFEST.json"));
  EXPECT_EQ(method("MANIFEST.json"), ZIP_CM_DEFLATE);
  EXPECT_EQ(method("config.json"), ZIP_CM_DEFLATE);
  EXPECT_EQ(method("tokenizer/vocab.txt"), ZIP_CM_DEFLATE);
  EXPECT_EQ(method("tokenizer/big.json"), ZIP_CM_STORE);  // > 1 MiB
  EXPECT_EQ(method("model.safetensors"), ZIP_CM_STORE);
  zip_discard(za);
  zip_error_fini(&ze);
}

TEST(Artifact, PackEmptyDirectory) {
  TempDir t;
  fs::create_directories(t.Sub("empty/only/dirs"));
  Bytes zip;
  ASSERT_TRUE(PackDirectory(t.Sub("empty"), {}, zip).ok());
  auto m = ValidateArtifact(zip);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m->files.empty());
}

TEST(Artifact, PackRefuses) {
  auto reason = [](const std::string& dir, const ArtifactOptions& o = {}) {
    Bytes zip;
    return PackDirectory(dir, o, zip).reason();
  };
  {
    TempDir t;
    WriteFile(t.Sub("a.txt"), "a");
    ASSERT_EQ(::symlink("/etc/passwd", t.Sub("link").c_str()), 0);
    EXPECT_EQ(reason(t.path()), "ARTIFACT_SYMLINK");
  }
  {
    TempDir t;
    fs::create_directories(t.Sub("real"));
    ASSERT_EQ(::symlink(t.Sub("real").c_str(), t.Sub("dirlink").c_str()), 0);
    EXPECT_EQ(reason(t.path()), "ARTIFACT_SYMLINK");
  }
  {
    TempDir t;
    ASSERT_EQ(::mkfifo(t.Sub("fifo").c_str(), 0644), 0);
    EXPECT_EQ(reason(t.path()), "ARTIFACT_SPECIAL_FILE");
  }
  {
    TempDir t;
    WriteFile(t.Sub("MANIFEST.json"), "{}");
    EXPECT_EQ(reason(t.path()), "ARTIFACT_RESERVED_NAME");
  }
  {
    TempDir t;
    WriteFile(t.Sub("Model.bin"), "1");
    WriteFile(t.Sub("model.bin"), "2");
    EXPECT_EQ(reason(t.path()), "ARTIFACT_DUPLICATE_NAME");
  }
  {
    TempDir t;
    WriteFile(t.Sub("a\\b"), "backslash in a name");
    EXPECT_EQ(reason(t.path()), "ARTIFACT_PATH_TRAVERSAL");
  }
  {
    TempDir t;
    WriteFile(t.Sub("a"), "1");
    ArtifactOptions o;
    o.dependencies.push_back({"both", AssetId(), std::string("uri")});
    EXPECT_EQ(reason(t.path(), o), "ARTIFACT_BAD_MANIFEST");
    o.dependencies = {{"x", AssetId(), std::nullopt}, {"x", AssetId(), std::nullopt}};
    EXPECT_EQ(reason(t.path(), o), "ARTIFACT_BAD_MANIFEST");
    o.dependencies.clear();
    o.metadata = {{"k", "\xff not utf-8"}};
    EXPECT_EQ(reason(t.path(), o), "ARTIFACT_BAD_MANIFEST");
  }
  {
    Bytes zip;
    EXPECT_EQ(PackDirectory("/nonexistent/aifs-dir", {}, zip).code(), Code::kNotFound);
  }
}

// --- validation: hand-built archives -------------------------------------------

TEST(Artifact, HandBuiltArchivesValidate) {
  EXPECT_TRUE(ValidateArtifact(WriteZip(GoodMembers(kFiles))).ok());
  // Deflated members, directory entries, manifest last.
  std::vector<Member> ms = {Dir("weights/"), Deflated("config.json", AsBytes(kFiles[0].second)),
                            Deflated("weights/w.bin", AsBytes(kFiles[1].second)),
                            Deflated("MANIFEST.json", AsBytes(ManifestFor(kFiles)))};
  auto m = ValidateArtifact(WriteZip(ms));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->files.size(), 2u);
  auto spilled = ValidateSpilled(WriteZip(ms));
  ASSERT_TRUE(spilled.ok()) << spilled.status().ToString();
  EXPECT_EQ(*spilled, *m);
  // ZIP64 records everywhere.
  m = ValidateArtifact(WriteZip(GoodMembers(kFiles), /*zip64=*/true));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(ValidateSpilled(WriteZip(GoodMembers(kFiles), /*zip64=*/true)).ok());
  // DOS-made archive (no Unix mode bits).
  ms = GoodMembers(kFiles);
  for (auto& mm : ms) {
    mm.os = 0;
    mm.ext_attr = 0x20;
  }
  EXPECT_TRUE(ValidateArtifact(WriteZip(ms)).ok());
  EXPECT_TRUE(ValidateSpilled(WriteZip(ms)).ok());
}

TEST(Artifact, RejectsNotZip) {
  ExpectReason(Bytes{}, "ARTIFACT_NOT_ZIP");
  ExpectReason(AsBytes("PK\x03\x04 but nothing else of a zip archive"), "ARTIFACT_NOT_ZIP");
  Bytes good = WriteZip(GoodMembers(kFiles));
  ExpectReason(ByteSpan(good).first(good.size() / 2), "ARTIFACT_NOT_ZIP");
  ExpectReason(ByteSpan(good).first(good.size() - 1), "ARTIFACT_NOT_ZIP");
  // Local header offset pointing nowhere.
  good[good.size() - 22 + 16] ^= 0x40;
  ExpectReason(good, "ARTIFACT_NOT_ZIP");
}

// Damage inside a well-formed archive is ARTIFACT_CORRUPT, never a bomb.
TEST(Artifact, DamagedMembersAreCorruptNotBombs) {
  // Wrong CRC: libzip's check fails while reading.
  auto ms = GoodMembers(kFiles);
  ms[1].crc ^= 1;
  ExpectReason(WriteZip(ms), "ARTIFACT_CORRUPT");
  // Corrupt deflate data.
  ms = GoodMembers(kFiles);
  ms[2] = Deflated("weights/w.bin", AsBytes(kFiles[1].second));
  for (size_t i = 2; i < ms[2].payload.size(); ++i) ms[2].payload[i] ^= 0x5a;
  ExpectReason(WriteZip(ms), "ARTIFACT_CORRUPT");
  // A member declaring (in the archive and the manifest) more bytes than it produces.
  Files longer = kFiles;
  longer[1].second += std::string(10, 'w');
  ms = GoodMembers(kFiles);
  ms[0] = Stored("MANIFEST.json", ManifestFor(longer));
  ms[2] = Deflated("weights/w.bin", AsBytes(kFiles[1].second));
  ms[2].size += 10;
  ExpectReason(WriteZip(ms), "ARTIFACT_CORRUPT");
  // ... or fewer, at an honest ratio: corrupt (a bomb only past the ratio limit).
  Files shorter = kFiles;
  shorter[1].second.resize(shorter[1].second.size() - 10);
  ms = GoodMembers(kFiles);
  ms[0] = Stored("MANIFEST.json", ManifestFor(shorter));
  ms[2] = Deflated("weights/w.bin", AsBytes(kFiles[1].second));
  ms[2].size -= 10;
  ExpectReason(WriteZip(ms), "ARTIFACT_CORRUPT");
}

TEST(Artifact, RejectsMissingManifest) {
  std::vector<Member> ms = {Stored("config.json", kFiles[0].second)};
  ExpectReason(WriteZip(ms), "ARTIFACT_NO_MANIFEST");
  ms.push_back(Stored("sub/MANIFEST.json", ManifestFor({})));
  ExpectReason(WriteZip(ms), "ARTIFACT_NO_MANIFEST");
  ExpectReason(WriteZip({}), "ARTIFACT_NO_MANIFEST");
  EXPECT_EQ(ReadManifest(WriteZip(ms)).status().reason(), "ARTIFACT_NO_MANIFEST");
}

TEST(Artifact, RejectsBadManifestInArchive) {
  auto ms = GoodMembers(kFiles);
  ms[0] = Stored("MANIFEST.json", "{\"format\": \"aifs-artifact/2\", \"files\": []}");
  ExpectReason(WriteZip(ms), "ARTIFACT_BAD_MANIFEST");
  EXPECT_EQ(ReadManifest(WriteZip(ms)).status().reason(), "ARTIFACT_BAD_MANIFEST");
  ms[0] = Stored("MANIFEST.json", "\xff\xfe not json");
  ExpectReason(WriteZip(ms), "ARTIFACT_BAD_MANIFEST");
  ArtifactLimits small;
  small.max_manifest_bytes = 64;
  ExpectReason(WriteZip(GoodMembers(kFiles)), "ARTIFACT_BAD_MANIFEST", small);
}

TEST(Artifact, RejectsManifestMismatch) {
  auto ms = GoodMembers(kFiles);
  ms.push_back(Stored("extra.txt", "not listed"));
  ExpectReason(WriteZip(ms), "ARTIFACT_MANIFEST_MISMATCH");
  ms = GoodMembers(kFiles);
  ms.pop_back();  // listed, not present
  ExpectReason(WriteZip(ms), "ARTIFACT_MANIFEST_MISMATCH");
  ms = GoodMembers(kFiles);
  ms[1] = Stored("config.json", "{\"a\": 2}\n");  // same size, other bytes
  ExpectReason(WriteZip(ms), "ARTIFACT_MANIFEST_MISMATCH");
  ms = GoodMembers(kFiles);
  ms[1] = Stored("config.json", "{\"a\": 22}\n");  // other size
  ExpectReason(WriteZip(ms), "ARTIFACT_MANIFEST_MISMATCH");
}

TEST(Artifact, RejectsUnsafePaths) {
  const std::vector<std::string> bad = {
      "../evil",   "a/../../evil", "/etc/passwd", "\\evil",      "a\\..\\evil", "C:/evil",   "c:evil",
      "a//b",      "./a",          "a/./b",       "a/.",         "a/..",        "..",        std::string("a\0b", 3),
      "a\x01" "b", "a\nb",         "bad\xff.txt", "\xc0\xaf.txt", std::string(300, 'x') + "/f",
  };
  for (const std::string& name : bad) {
    SCOPED_TRACE(HexEncode(AsBytes(name)));
    auto ms = GoodMembers(kFiles);
    ms.push_back(Stored(name, "pwned"));
    ExpectReason(WriteZip(ms), "ARTIFACT_PATH_TRAVERSAL");
  }
  for (const char* dir : {"../", "/abs/", "a//"}) {
    auto ms = GoodMembers(kFiles);
    ms.push_back(Dir(dir));
    ExpectReason(WriteZip(ms), "ARTIFACT_PATH_TRAVERSAL");
  }
}

TEST(Artifact, RejectsDuplicateNames) {
  auto ms = GoodMembers(kFiles);
  ms.push_back(Stored("config.json", kFiles[0].second));
  ExpectReason(WriteZip(ms), "ARTIFACT_DUPLICATE_NAME");
  ms = GoodMembers(kFiles);
  ms.push_back(Stored("Config.JSON", kFiles[0].second));
  ExpectReason(WriteZip(ms), "ARTIFACT_DUPLICATE_NAME");
  ms = GoodMembers(kFiles);
  ms.push_back(Stored("weights", "a file where a directory is"));
  ExpectReason(WriteZip(ms), "ARTIFACT_DUPLICATE_NAME");
  ms = GoodMembers(kFiles);
  ms.push_back(Dir("config.json/"));
  ExpectReason(WriteZip(ms), "ARTIFACT_DUPLICATE_NAME");
  // A file that is also a directory further down, with names sorting between
  // them bytewise ('-' < '/').
  ms = GoodMembers(kFiles);
  ms.push_back(Stored("a/b", "file"));
  ms.push_back(Stored("a/b-c", "file"));
  ms.push_back(Stored("a/B.x", "file"));
  ms.push_back(Stored("a/b/c/d", "file under a file"));
  ExpectReason(WriteZip(ms), "ARTIFACT_DUPLICATE_NAME");
  // Directory entries contain files, but do not repeat either.
  Files nested = kFiles;
  nested.push_back({"a/b/c", "x"});
  ms = GoodMembers(nested);
  ms.push_back(Dir("a/"));
  ms.push_back(Dir("A/b/"));
  EXPECT_TRUE(ValidateArtifact(WriteZip(ms)).ok());
  ms.push_back(Dir("A/"));
  ExpectReason(WriteZip(ms), "ARTIFACT_DUPLICATE_NAME");
  ms = GoodMembers(kFiles);
  ms.push_back(Stored("MANIFEST.json", ManifestFor(kFiles)));
  ExpectReason(WriteZip(ms), "ARTIFACT_DUPLICATE_NAME");
  EXPECT_EQ(ReadManifest(WriteZip(ms)).status().reason(), "ARTIFACT_DUPLICATE_NAME");
}

TEST(Artifact, DeepPathsStayLinear) {
  // 400 members whose paths have ~1000 components each: the name checks must
  // not cost (components x length) per member.
  Files files;
  for (int i = 0; i < 400; ++i) {
    std::string p = "d" + std::to_string(i);
    while (p.size() < 2000) p += "/a";
    files.push_back({p + "/f", std::to_string(i)});
  }
  auto m = ValidateArtifact(WriteZip(GoodMembers(files)));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->files.size(), 400u);
}

TEST(Artifact, RejectsSymlinksAndSpecialFiles) {
  auto ms = GoodMembers(kFiles);
  Member link = Stored("link", "../../etc/passwd");
  link.ext_attr = 0120777u << 16;
  ms.push_back(link);
  ExpectReason(WriteZip(ms), "ARTIFACT_SYMLINK");
  // Mode bits count whatever the "made by" system says.
  ms.back().os = 0;
  ExpectReason(WriteZip(ms), "ARTIFACT_SYMLINK");

  ms = GoodMembers(kFiles);
  Member fifo = Stored("fifo", "");
  fifo.ext_attr = 010644u << 16;
  ms.push_back(fifo);
  ExpectReason(WriteZip(ms), "ARTIFACT_SPECIAL_FILE");
  ms = GoodMembers(kFiles);
  Member dir_typed = Stored("d", "");
  dir_typed.ext_attr = 040755u << 16;  // a directory mode on a name without '/'
  ms.push_back(dir_typed);
  ExpectReason(WriteZip(ms), "ARTIFACT_SPECIAL_FILE");
  ms = GoodMembers(kFiles);
  Member dir_data = Stored("d/", "data in a directory entry");
  dir_data.ext_attr = 040755u << 16;
  ms.push_back(dir_data);
  ExpectReason(WriteZip(ms), "ARTIFACT_SPECIAL_FILE");
}

TEST(Artifact, RejectsEncryptionAndOtherMethods) {
  for (uint16_t flag : {0x0001, 0x0041, 0x2000}) {
    auto ms = GoodMembers(kFiles);
    ms[2].flags = flag;
    ExpectReason(WriteZip(ms), "ARTIFACT_ENCRYPTED");
  }
  auto ms = GoodMembers(kFiles);
  ms[2].method = 12;  // bzip2
  ExpectReason(WriteZip(ms), "ARTIFACT_UNSUPPORTED_COMPRESSION");
  ms[2].method = 93;  // zstd
  ExpectReason(WriteZip(ms), "ARTIFACT_UNSUPPORTED_COMPRESSION");
}

TEST(Artifact, RejectsZipBombs) {
  const Bytes zeros(8 << 20, 0);
  const std::string zeros_str(zeros.begin(), zeros.end());
  Files with_zeros = kFiles;
  with_zeros.push_back({"zeros.bin", zeros_str});
  // 8 MiB of zeros deflate ~1000:1: over the 200:1 limit.
  auto ms = GoodMembers(kFiles);
  ms[0] = Stored("MANIFEST.json", ManifestFor(with_zeros));
  ms.push_back(Deflated("zeros.bin", zeros));
  ASSERT_GT(ms.back().size / ms.back().payload.size(), 200u);
  ExpectReason(WriteZip(ms), "ARTIFACT_ZIP_BOMB");
  // A permissive ratio accepts it: the manifest is truthful.
  ArtifactLimits loose;
  loose.max_ratio = 100000;
  EXPECT_TRUE(ValidateArtifact(WriteZip(ms), loose).ok());

  // Declared size lies (small): reading stops after declared + 1 bytes.
  Files lying = kFiles;
  lying.push_back({"zeros.bin", std::string(1000, '\0')});
  ms = GoodMembers(kFiles);
  ms[0] = Stored("MANIFEST.json", ManifestFor(lying));
  ms.push_back(Deflated("zeros.bin", zeros));
  ms.back().size = 1000;
  ExpectReason(WriteZip(ms), "ARTIFACT_ZIP_BOMB");

  // Member count, total and per-member size limits.
  ArtifactLimits few;
  few.max_members = 2;
  ExpectReason(WriteZip(GoodMembers(kFiles)), "ARTIFACT_ZIP_BOMB", few);
  ArtifactLimits small_total;
  small_total.max_total_uncompressed = 3000;
  ExpectReason(WriteZip(GoodMembers(kFiles)), "ARTIFACT_ZIP_BOMB", small_total);
  ArtifactLimits small_member;
  small_member.max_member_uncompressed = 2999;
  ExpectReason(WriteZip(GoodMembers(kFiles)), "ARTIFACT_ZIP_BOMB", small_member);

  // Overlapping members: two central records sharing one local header.
  ms = GoodMembers(kFiles);
  Member alias = ms[2];
  alias.name = "weights/w2.bin";
  alias.alias_of = 2;
  ms.push_back(alias);
  ExpectReason(WriteZip(ms), "ARTIFACT_ZIP_BOMB");
}

TEST(Artifact, InflationBudgetCoversTheWholeArchive) {
  // 64 members of 512 KiB of zeros: each under the per-member threshold
  // (1 MiB), together 32 MiB out of ~32 KiB of deflate data.
  const Bytes zeros(512 << 10, 0);
  Files files = kFiles;
  for (int i = 0; i < 64; ++i)
    files.push_back({"z/" + std::to_string(100 + i), std::string(zeros.begin(), zeros.end())});
  auto ms = GoodMembers(kFiles);
  ms[0] = Stored("MANIFEST.json", ManifestFor(files));
  uint64_t in = 0, out = 0;
  for (int i = 0; i < 64; ++i) {
    ms.push_back(Deflated("z/" + std::to_string(100 + i), zeros));
    ASSERT_LT(ms.back().size, ArtifactLimits{}.ratio_min_size);
    in += ms.back().payload.size();
    out += ms.back().size;
  }
  ASSERT_GT(out / in, 200u);
  const Bytes zip = WriteZip(ms);
  Status st = ValidateArtifact(zip).status();
  EXPECT_EQ(st.reason(), "ARTIFACT_ZIP_BOMB") << st.ToString();
  EXPECT_NE(st.message().find("inflation budget"), std::string::npos) << st.ToString();
  // The budget scales with max_ratio like the per-member check.
  ArtifactLimits loose;
  loose.max_ratio = 100000;
  EXPECT_TRUE(ValidateArtifact(zip, loose).ok());
  // Under ratio_min_size declared in total, the budget does not apply.
  ArtifactLimits big_slack;
  big_slack.ratio_min_size = uint64_t{64} << 20;
  EXPECT_TRUE(ValidateArtifact(zip, big_slack).ok());
}

// --- extraction -------------------------------------------------------------------

TEST(Artifact, ExtractNeverFollowsSymlinksInTarget) {
  TempDir t;
  const std::string outside = t.Sub("outside");
  fs::create_directories(outside);
  fs::create_directories(t.Sub("target"));
  ASSERT_EQ(::symlink(outside.c_str(), t.Sub("target/weights").c_str()), 0);
  Bytes zip = WriteZip(GoodMembers(kFiles));
  Status st = ExtractArtifact(zip, t.Sub("target"));
  EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.ToString();
  EXPECT_EQ(st.reason(), "ARTIFACT_UNSAFE_TARGET");
  EXPECT_TRUE(fs::is_empty(outside));
  EXPECT_FALSE(fs::exists(t.Sub("target/config.json"))) << "rolled back";
  EXPECT_TRUE(fs::is_symlink(t.Sub("target/weights")));
}

TEST(Artifact, ExtractRefusesExistingFilesAndRollsBack) {
  TempDir t;
  WriteFile(t.Sub("target/weights/w.bin"), "precious");
  Status st = ExtractArtifact(WriteZip(GoodMembers(kFiles)), t.Sub("target"));
  EXPECT_EQ(st.code(), Code::kAlreadyExists) << st.ToString();
  EXPECT_EQ(st.reason(), "ARTIFACT_TARGET_EXISTS");
  EXPECT_EQ(ReadFile(t.Sub("target/weights/w.bin")), "precious");
  EXPECT_FALSE(fs::exists(t.Sub("target/config.json"))) << "rolled back";
  // A symlink planted where a file goes is not followed either.
  TempDir t2;
  fs::create_directories(t2.Sub("target"));
  ASSERT_EQ(::symlink(t2.Sub("victim").c_str(), t2.Sub("target/config.json").c_str()), 0);
  st = ExtractArtifact(WriteZip(GoodMembers(kFiles)), t2.Sub("target"));
  EXPECT_FALSE(st.ok());
  EXPECT_FALSE(fs::exists(t2.Sub("victim")));
}

TEST(Artifact, ExtractValidatesFirst) {
  TempDir t;
  auto ms = GoodMembers(kFiles);
  ms.push_back(Stored("../escaped", "pwned"));
  Status st = ExtractArtifact(WriteZip(ms), t.Sub("target"));
  EXPECT_EQ(st.reason(), "ARTIFACT_PATH_TRAVERSAL");
  EXPECT_FALSE(fs::exists(t.Sub("target")));
  EXPECT_FALSE(fs::exists(t.Sub("escaped")));
  ms = GoodMembers(kFiles);
  ms[1] = Stored("config.json", "{\"a\": 2}\n");
  st = ExtractArtifact(WriteZip(ms), t.Sub("target"));
  EXPECT_EQ(st.reason(), "ARTIFACT_MANIFEST_MISMATCH");
  EXPECT_FALSE(fs::exists(t.Sub("target")));
}

// --- manifest schema -----------------------------------------------------------------

TEST(Artifact, ManifestRoundTrip) {
  ArtifactManifest m;
  m.files = {{"a.txt", 3, "text/plain", Blake3::Hash(AsBytes("abc"))},
             {"d/\xc3\xa9.bin", 0, "application/octet-stream", Blake3::Hash({})}};
  m.dependencies = Options().dependencies;
  m.metadata = {{"k", "v"}, {"\xc3\xbc", "\"quoted\"\n"}};
  const std::string text = SerializeManifest(m);
  auto back = ParseManifest(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, m);
  EXPECT_EQ(SerializeManifest(*back), text);
  // Minimal form: dependencies and metadata may be omitted.
  back = ParseManifest("{\"format\":\"aifs-artifact/1\",\"files\":[]}");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(back->files.empty());
}

TEST(Artifact, ManifestSchemaViolations) {
  const std::string h = HexEncode(Blake3::Hash({}));
  auto file = [&](const std::string& path, const std::string& size = "0", const std::string& hex = "") {
    return "{\"path\":\"" + path + "\",\"size\":" + size + ",\"media_type\":\"a/b\",\"blake3\":\"" +
           (hex.empty() ? h : hex) + "\"}";
  };
  auto doc = [](const std::string& files, const std::string& rest = "") {
    return "{\"format\":\"aifs-artifact/1\",\"files\":[" + files + "]" + rest + "}";
  };
  ASSERT_TRUE(ParseManifest(doc(file("a"))).ok());
  const std::vector<std::string> bad = {
      "",
      "[]",
      "{\"format\":\"aifs-artifact/1\"}",
      "{\"format\":\"aifs-artifact/1\",\"files\":{}}",
      "{\"format\":\"zip\",\"files\":[]}",
      "{\"format\":\"aifs-artifact/1\",\"format\":\"aifs-artifact/1\",\"files\":[]}",  // duplicate key
      doc(file("a"), ",\"extra\":1"),                                                  // unknown key
      doc(file("b") + "," + file("a")),                                                // unsorted
      doc(file("a") + "," + file("a")),                                                // repeated
      doc(file("../a")),
      doc(file("MANIFEST.json")),
      doc(file("a", "-1")),
      doc(file("a", "1.5")),
      doc(file("a", "\"3\"")),
      doc(file("a", "0", std::string(64, 'A'))),
      doc(file("a", "0", std::string(63, 'a'))),
      doc("{\"path\":\"a\",\"size\":0,\"media_type\":\"a/b\",\"blake3\":\"" + h + "\",\"x\":1}"),
      doc("{\"path\":\"a\",\"size\":0,\"blake3\":\"" + h + "\"}"),
      doc("{\"path\":\"a\",\"size\":0,\"media_type\":\"\",\"blake3\":\"" + h + "\"}"),
      doc("", ",\"dependencies\":[{\"name\":\"x\"}]"),
      doc("", ",\"dependencies\":[{\"name\":\"x\",\"asset\":\"" + h + "\",\"uri\":\"u\"}]"),
      doc("", ",\"dependencies\":[{\"name\":\"x\",\"asset\":\"zz\"}]"),
      doc("", ",\"dependencies\":[{\"name\":\"\",\"uri\":\"u\"}]"),
      doc("", ",\"dependencies\":[{\"name\":\"x\",\"uri\":\"u\"},{\"name\":\"x\",\"uri\":\"v\"}]"),
      doc("", ",\"metadata\":{\"k\":1}"),
      doc("", ",\"metadata\":{\"k\":{\"deep\":{\"er\":{\"still\":[[[[1]]]]}}}}"),
      doc("", ",\"metadata\":[]"),
      std::string(100000, '[') + std::string(100000, ']'),
  };
  for (const std::string& text : bad) {
    auto r = ParseManifest(text);
    EXPECT_FALSE(r.ok()) << text.substr(0, 200);
    EXPECT_EQ(r.status().reason(), "ARTIFACT_BAD_MANIFEST") << text.substr(0, 200);
  }
}

TEST(Artifact, MediaTypes) {
  EXPECT_EQ(MediaTypeForPath("config.json"), "application/json");
  EXPECT_EQ(MediaTypeForPath("a/b/notes.TXT"), "text/plain");
  EXPECT_EQ(MediaTypeForPath("model.safetensors"), "application/octet-stream");
  EXPECT_EQ(MediaTypeForPath("pytorch_model.bin"), "application/octet-stream");
  EXPECT_EQ(MediaTypeForPath("x.npy"), "application/x-npy");
  EXPECT_EQ(MediaTypeForPath("model.onnx"), "application/x-onnx");
  EXPECT_EQ(MediaTypeForPath("train.py"), "text/x-python");
  EXPECT_EQ(MediaTypeForPath("README.md"), "text/markdown");
  EXPECT_EQ(MediaTypeForPath("LICENSE"), "application/octet-stream");
  EXPECT_EQ(MediaTypeForPath(".hidden"), "application/octet-stream");
  EXPECT_EQ(MediaTypeForPath("dir.json/file"), "application/octet-stream");
  EXPECT_TRUE(IsCompressibleMediaType("text/plain"));
  EXPECT_TRUE(IsCompressibleMediaType("application/json"));
  EXPECT_FALSE(IsCompressibleMediaType("application/octet-stream"));
}

// --- KindValidator -------------------------------------------------------------------

TEST(Artifact, ValidatorBuffersAndValidates) {
  Bytes zip = WriteZip(GoodMembers(kFiles));
  auto v = NewArtifactValidator(1 << 20);
  for (size_t i = 0; i < zip.size(); i += 100) {
    ASSERT_TRUE(v->Update(ByteSpan(zip).subspan(i, std::min<size_t>(100, zip.size() - i))).ok());
  }
  EXPECT_TRUE(v->Finish().ok());

  auto ms = GoodMembers(kFiles);
  ms.push_back(Stored("../x", "x"));
  Bytes bad = WriteZip(ms);
  v = NewArtifactValidator(1 << 20);
  ASSERT_TRUE(v->Update(bad).ok());
  EXPECT_EQ(v->Finish().reason(), "ARTIFACT_PATH_TRAVERSAL");

  v = NewArtifactValidator(zip.size() - 1);
  Status st = v->Update(zip);
  EXPECT_EQ(st.code(), Code::kResourceExhausted);
  EXPECT_EQ(st.reason(), "ARTIFACT_TOO_LARGE");
}

}  // namespace
}  // namespace aifs
