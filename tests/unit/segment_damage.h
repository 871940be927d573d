// Finding and damaging one stored segment of an asset, for tests of what a
// flipped byte on disk does to reads (test_segments, test_stored_reads).
#pragma once

#include <fstream>
#include <string>

#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"
#include "aifs/storage/chunk_sealer.h"
#include "test_util.h"

namespace aifs::test {

// Where the segment holding asset byte `offset` is stored: its object file
// and a byte 5 bytes into its sealed bytes; where its chunk starts in the
// asset and the chunk's segment size.
struct SegmentLocation {
  std::string object_path;
  uint64_t object_offset = 0;
  uint64_t chunk_start = 0;
  uint64_t segment_size = 0;
};

// `data_dir` is the store of `engine` (a local one: rocksdb meta, file
// chunks, local KMS); the meta store is opened read-only beside the engine.
inline SegmentLocation LocateSegment(Engine& engine, const TempDir& data_dir, const AssetId& id,
                                     uint64_t offset, const std::string& ns = "default") {
  auto info = engine.StatAsset(ns, id, true);
  EXPECT_TRUE(info.ok()) << info.status().ToString();
  if (!info.ok()) return {};
  for (const ChunkInfo& c : info->chunks) {
    if (offset < c.offset || offset >= c.offset + c.length) continue;
    auto meta = OpenMetaStore("rocksdb://" + data_dir.Sub("meta"), {.read_only = true});
    EXPECT_TRUE(meta.ok()) << meta.status().ToString();
    auto rec = LoadRecord<store::v1::ChunkRecord>(**meta, keys::Chunk(ns, c.hash), "x", "chunk");
    EXPECT_TRUE(rec.ok()) << rec.status().ToString();
    auto kms = OpenKms("local://" + data_dir.Sub("kms/master.keys"), false);
    EXPECT_TRUE(kms.ok()) << kms.status().ToString();
    auto opener = ChunkOpener::Open(**kms, ns, c.hash, *rec);
    EXPECT_TRUE(opener.ok()) << opener.status().ToString();
    if (!meta.ok() || !rec.ok() || !kms.ok() || !opener.ok()) return {};
    const uint64_t seg = (offset - c.offset) / opener->segment_size();
    const std::string& object = rec->object();
    return {data_dir.Sub("chunks") + "/" + object.substr(0, 2) + "/" + object,
            rec->pack_offset() + opener->Location(seg).offset + 5, c.offset,
            opener->segment_size()};
  }
  ADD_FAILURE() << "no chunk holds offset " << offset;
  return {};
}

// Flips the lowest bit of the byte at `offset` of file `path`.
inline void FlipByte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good()) << path;
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 1));
  ASSERT_TRUE(f.good()) << path;
}

}  // namespace aifs::test
