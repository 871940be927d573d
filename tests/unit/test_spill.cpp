// The spill buffer behind artifact puts (storage/spill_buffer.h): what it
// keeps in RAM, that the bytes it moves to disk are encrypted, that any block
// reads back on its own and a block changed on disk is refused (never read
// as data, nor as a malformed archive); and an artifact put through the
// engine whose spill file, read while the put is paused midway, holds none of
// the artifact's bytes in clear. The oracle is the spill file itself, read
// through /proc/self/fd (it has no name).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "aifs/kinds/artifact.h"
#include "aifs/storage/spill_buffer.h"
#include "test_util.h"

namespace aifs::test {
namespace {

constexpr size_t kBlock = SpillBuffer::kDefaultBlockSize;
constexpr size_t kSealedBlock = kBlock + 16;

// The descriptors of this process's spill files in `dir`: unnamed files
// there ("<dir>/#<inode> (deleted)" for O_TMPFILE).
std::vector<int> SpillFds(const std::string& dir) {
  std::vector<int> out;
  for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const std::string target = fs::read_symlink(e.path(), ec).string();
    if (ec || !target.starts_with(dir + "/") || !target.ends_with(" (deleted)")) continue;
    if (target.find('/', dir.size() + 1) != std::string::npos) continue;  // not in dir itself
    out.push_back(std::stoi(e.path().filename().string()));
  }
  return out;
}

// Everything in the file behind descriptor `fd`, read through a descriptor
// of its own (opened read-write when `rw`, for tampering).
int Reopen(int fd, int flags) {
  return ::open(("/proc/self/fd/" + std::to_string(fd)).c_str(), flags | O_CLOEXEC);
}
Bytes FileOf(int fd) {
  const int own = Reopen(fd, O_RDONLY);
  EXPECT_GE(own, 0);
  Bytes out;
  uint8_t buf[1 << 16];
  for (ssize_t r; own >= 0 && (r = ::read(own, buf, sizeof buf)) > 0;)
    out.insert(out.end(), buf, buf + r);
  if (own >= 0) ::close(own);
  return out;
}

bool Holds(ByteSpan haystack, std::string_view needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

Status AppendInPieces(SpillBuffer& buf, ByteSpan data, size_t piece) {
  for (size_t off = 0; off < data.size(); off += piece)
    AIFS_RETURN_IF_ERROR(buf.Append(data.subspan(off, std::min(piece, data.size() - off))));
  return Status::Ok();
}

// Text with `marker` on every line, `n` bytes.
Bytes MarkedText(const std::string& marker, size_t n, uint64_t seed) {
  Bytes filler = TextBytes(n, seed);
  for (size_t at = 0; at + marker.size() < n; at += 1000)
    std::copy(marker.begin(), marker.end(), filler.begin() + static_cast<ptrdiff_t>(at));
  return filler;
}

std::string RandomMarker() {
  return "spill-marker-" + HexEncode(RandomBytes(8, static_cast<uint64_t>(::getpid())));
}

TEST(SpillBuffer, KeepsLittleInMemoryAndReadsBackEveryByteAtAnyOffset) {
  TempDir dir;
  SpillBuffer small(dir.path(), 4096);
  const Bytes data = RandomBytes((3 << 20) + 12345, 2);
  AIFS_ASSERT_OK(small.Append(ByteSpan(data).first(100)));
  EXPECT_FALSE(small.spilled());
  EXPECT_TRUE(SpillFds(dir.path()).empty()) << "nothing on disk below max_memory";

  SpillBuffer buf(dir.path(), 4096);
  AIFS_ASSERT_OK(AppendInPieces(buf, data, 100000));
  EXPECT_TRUE(buf.spilled());
  ASSERT_EQ(buf.size(), data.size());
  ASSERT_EQ(SpillFds(dir.path()).size(), 1u);
  Bytes back(data.size());
  AIFS_ASSERT_OK(buf.ReadAt(0, back));
  EXPECT_TRUE(back == data);
  // Ranges anywhere: inside a block, across blocks, into the tail in RAM.
  std::mt19937_64 rng(7);
  for (int i = 0; i < 300; ++i) {
    const uint64_t off = rng() % data.size();
    const size_t n = std::min<uint64_t>(rng() % (3 * kBlock), data.size() - off);
    Bytes part(n);
    AIFS_ASSERT_OK(buf.ReadAt(off, part));
    ASSERT_TRUE(std::equal(part.begin(), part.end(), data.begin() + static_cast<ptrdiff_t>(off)))
        << "at " << off << " for " << n;
  }
  Bytes one(11);
  AIFS_EXPECT_STATUS(buf.ReadAt(data.size() - 10, one), kOutOfRange, "READ_PAST_END");
  AIFS_EXPECT_STATUS(small.ReadAt(95, one), kOutOfRange, "READ_PAST_END");
  // Appending after reading goes on where it was.
  AIFS_ASSERT_OK(buf.Append(ByteSpan(data).first(kBlock + 7)));
  AIFS_ASSERT_OK(buf.ReadAt(data.size(), MutableByteSpan(back).first(kBlock + 7)));
  EXPECT_TRUE(std::equal(back.begin(), back.begin() + kBlock + 7, data.begin()));
  buf.Release();
  EXPECT_EQ(buf.size(), 0u);
  EXPECT_TRUE(SpillFds(dir.path()).empty()) << "Release frees the file";
}

TEST(SpillBuffer, TheFileHoldsOnlyCiphertextUnderAKeyOfItsOwn) {
  TempDir dir;
  const std::string marker = RandomMarker();
  const Bytes data = MarkedText(marker, (2 << 20) + 777, 3);
  ASSERT_TRUE(Holds(data, marker)) << "the control: the data holds the marker";
  SpillBuffer a(dir.path(), 1 << 20), b(dir.path(), 1 << 20);
  AIFS_ASSERT_OK(AppendInPieces(a, data, 65000));
  const auto fds = SpillFds(dir.path());
  ASSERT_EQ(fds.size(), 1u);
  const Bytes file = FileOf(fds[0]);
  EXPECT_EQ(file.size(), data.size() / kBlock * kSealedBlock)
      << "whole sealed blocks only; the last partial block stays in RAM";
  EXPECT_FALSE(Holds(file, marker)) << "the marker is on disk in clear";
  EXPECT_FALSE(Holds(file, AsChars(ByteSpan(data).subspan(5000, 32)))) << "data bytes on disk";
  // The same bytes in another buffer: another key, other ciphertext.
  AIFS_ASSERT_OK(AppendInPieces(b, data, 65000));
  auto both = SpillFds(dir.path());
  ASSERT_EQ(both.size(), 2u);
  const int other = both[0] == fds[0] ? both[1] : both[0];
  const Bytes file_b = FileOf(other);
  ASSERT_EQ(file_b.size(), file.size());
  EXPECT_FALSE(std::equal(file.begin(), file.begin() + 64, file_b.begin()));
}

TEST(SpillBuffer, AChangedSwappedOrCutBlockIsRefused) {
  TempDir dir;
  constexpr size_t kSmall = 1024, kSealed = kSmall + 16;
  const Bytes data = RandomBytes(10 * kSmall + 100, 4);
  SpillBuffer buf(dir.path(), 0, kSmall);
  AIFS_ASSERT_OK(AppendInPieces(buf, data, 333));
  const auto fds = SpillFds(dir.path());
  ASSERT_EQ(fds.size(), 1u);
  const int rw = Reopen(fds[0], O_RDWR);
  ASSERT_GE(rw, 0);
  Bytes out(20);
  AIFS_ASSERT_OK(buf.ReadAt(0, out));  // block 0, read (and cached) before any change
  // One flipped bit in block 2.
  uint8_t byte;
  ASSERT_EQ(::pread(rw, &byte, 1, 2 * kSealed + 5), 1);
  byte ^= 1;
  ASSERT_EQ(::pwrite(rw, &byte, 1, 2 * kSealed + 5), 1);
  AIFS_EXPECT_STATUS(buf.ReadAt(2 * kSmall + 100, out), kDataLoss, "SPILL_CORRUPT");
  // Blocks 3 and 4 swapped: each is whole, but sealed for its own place.
  Bytes b3(kSealed), b4(kSealed);
  ASSERT_EQ(::pread(rw, b3.data(), kSealed, 3 * kSealed), static_cast<ssize_t>(kSealed));
  ASSERT_EQ(::pread(rw, b4.data(), kSealed, 4 * kSealed), static_cast<ssize_t>(kSealed));
  ASSERT_EQ(::pwrite(rw, b4.data(), kSealed, 3 * kSealed), static_cast<ssize_t>(kSealed));
  ASSERT_EQ(::pwrite(rw, b3.data(), kSealed, 4 * kSealed), static_cast<ssize_t>(kSealed));
  AIFS_EXPECT_STATUS(buf.ReadAt(3 * kSmall, out), kDataLoss, "SPILL_CORRUPT");
  AIFS_EXPECT_STATUS(buf.ReadAt(4 * kSmall, out), kDataLoss, "SPILL_CORRUPT");
  // Cut inside block 9.
  ASSERT_EQ(::ftruncate(rw, 9 * kSealed + 10), 0);
  AIFS_EXPECT_STATUS(buf.ReadAt(9 * kSmall + 3, out), kDataLoss, "SPILL_CORRUPT");
  ::close(rw);
  // Untouched blocks and the tail in RAM still read.
  AIFS_ASSERT_OK(buf.ReadAt(5 * kSmall, out));
  EXPECT_TRUE(std::equal(out.begin(), out.end(), data.begin() + 5 * kSmall));
  AIFS_ASSERT_OK(buf.ReadAt(10 * kSmall + 50, out));
  EXPECT_TRUE(std::equal(out.begin(), out.end(), data.begin() + 10 * kSmall + 50));
}

// An artifact with the marker in stored and deflated members.
Bytes MarkedArtifact(const std::string& marker, size_t weights_bytes) {
  TempDir src;
  WriteFileBytes(src.Sub("weights.bin"), MarkedText(marker, weights_bytes, 5));
  WriteFileBytes(src.Sub("notes.txt"), MarkedText(marker, 20000, 6));
  WriteFileBytes(src.Sub("config.json"), ToBytes("{\"marker\": \"" + marker + "\"}\n"));
  Bytes zip;
  Status st = PackDirectory(src.path(), {}, zip);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return zip;
}

// Flips one bit at `at` of the spill file behind `fd`.
void FlipBit(int fd, off_t at) {
  const int rw = Reopen(fd, O_RDWR);
  ASSERT_GE(rw, 0);
  uint8_t byte = 0;
  ASSERT_EQ(::pread(rw, &byte, 1, at), 1);
  byte ^= 0x40;
  ASSERT_EQ(::pwrite(rw, &byte, 1, at), 1);
  ::close(rw);
}

TEST(SpillBuffer, ArtifactValidationReadsThroughItAndReportsTamperingAsSuch) {
  TempDir dir;
  const Bytes zip = MarkedArtifact(RandomMarker(), 3 << 20);
  std::vector<int> known;
  // A fresh buffer holding the archive, and the descriptor of its file.
  auto spilled = [&](SpillBuffer& buf) {
    EXPECT_TRUE(AppendInPieces(buf, zip, 100000).ok());
    int fd = -1;
    for (int f : SpillFds(dir.path()))
      if (std::find(known.begin(), known.end(), f) == known.end()) fd = f;
    known.push_back(fd);
    return fd;
  };
  SpillBuffer good(dir.path(), 0);
  spilled(good);
  auto m = ValidateArtifact(good);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->files.size(), 3u);
  // A block in the middle of weights.bin's data, which only the member read
  // (through libzip) touches: the spill file's error, not ARTIFACT_NOT_ZIP.
  SpillBuffer member(dir.path(), 0);
  FlipBit(spilled(member), 20 * kSealedBlock + 100);
  AIFS_EXPECT_STATUS(ValidateArtifact(member).status(), kDataLoss, "SPILL_CORRUPT");
  // Block 0 holds the first local header, which the central directory walk reads.
  SpillBuffer header(dir.path(), 0);
  FlipBit(spilled(header), 3);
  AIFS_EXPECT_STATUS(ValidateArtifact(header).status(), kDataLoss, "SPILL_CORRUPT");
}

class SpillTest : public EngineFixture {};

// The engine's artifact put keeps 1 MiB in RAM and spills the rest: paused
// midway, the spill file in the data directory holds none of it in clear.
TEST_F(SpillTest, AnArtifactPutInFlightHasNoPlaintextOnDisk) {
  InitStore();
  const std::string marker = RandomMarker();
  const Bytes zip = MarkedArtifact(marker, 6 << 20);
  ASSERT_TRUE(Holds(zip, marker)) << "the control: the archive holds the marker in clear";
  PutOptions o;
  o.kind = AssetKind::kArtifact;
  auto w = engine().BeginPut(o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const size_t half = zip.size() / 2;
  for (size_t off = 0; off < half; off += 256 << 10)
    AIFS_ASSERT_OK(
        (*w)->Write(ByteSpan(zip).subspan(off, std::min<size_t>(256 << 10, half - off))));
  const auto fds = SpillFds(dir_.path());
  ASSERT_EQ(fds.size(), 1u) << "one spill file in the data directory while the put is in flight";
  const Bytes file = FileOf(fds[0]);
  EXPECT_GE(file.size(), half - (1 << 20) - kBlock) << "all but 1 MiB and a block are on disk";
  EXPECT_FALSE(Holds(file, marker)) << "the artifact's bytes are on disk in clear";
  for (size_t off = half; off < zip.size(); off += 256 << 10)
    AIFS_ASSERT_OK(
        (*w)->Write(ByteSpan(zip).subspan(off, std::min<size_t>(256 << 10, zip.size() - off))));
  auto put = (*w)->Commit();
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  w->reset();
  EXPECT_TRUE(SpillFds(dir_.path()).empty()) << "the spill file ends with the put";
  EXPECT_TRUE(MustRead(put->asset.id) == zip);

  // A changed byte inside weights.bin: validated through the spill file, the
  // put is refused for what it is (the member's CRC no longer matches), and
  // nothing is committed.
  Bytes bad = zip;
  bad[bad.size() / 2] ^= 1;
  auto refused = PutBytes(engine(), bad, o, {300000});
  AIFS_EXPECT_STATUS(refused.status(), kInvalidArgument, "ARTIFACT_CORRUPT");
  EXPECT_NE(refused.status().message().find("weights.bin"), std::string::npos)
      << refused.status().ToString();
  EXPECT_TRUE(SpillFds(dir_.path()).empty());
  auto listed = engine().ListAssets(ListOptions{});
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->assets.size(), 1u);
}

}  // namespace
}  // namespace aifs::test
