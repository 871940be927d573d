// EngineAssetWriter: the put pipeline of the embedded engine.
//
// The caller's thread hashes the stream (the asset ID) and cuts it into
// content-defined chunks; pool threads hash, deduplicate, seal and store each
// chunk, a bounded number at a time so memory stays flat for any asset size.
// Commit() makes the new objects durable, then one metadata transaction
// publishes the asset and its chunk references. Until then nothing is
// visible; an abort (or a crash) leaves only unreferenced objects, which the
// writer deletes itself or garbage collection reclaims.
#pragma once

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "aifs/api/api.h"
#include "aifs/engine/store_context.h"
#include "aifs/kinds/kind_validator.h"

namespace aifs {

struct DigestHash {
  size_t operator()(const Digest& d) const {
    size_t h;
    std::memcpy(&h, d.data(), sizeof h);
    return h;
  }
};

class EngineAssetWriter : public AssetWriter {
 public:
  EngineAssetWriter(StoreContext& ctx, PutOptions options);
  ~EngineAssetWriter() override;

  Status Write(ByteSpan data) override;
  Result<PutResult> Commit() override;

 private:
  struct Slot {
    Digest hash{};
    uint64_t length = 0;
    bool writes_chunk = false;  // first slot of this put with its hash
    bool wrote_object = false;  // its sealed object is in the chunk store
    store::v1::ChunkRecord record;
  };

  Status CutChunks(bool at_eof);
  void Dispatch(Bytes chunk);
  void ProcessChunk(Slot& slot, const Bytes& chunk);
  Status WaitForTasks();
  Status PublishAsset(const AssetId& id, PutResult& result, std::vector<std::string>& unused);
  void DeleteObjects(const std::vector<std::string>& names);
  void Abort();

  StoreContext& ctx_;
  PutOptions options_;
  Blake3 hasher_;
  std::unique_ptr<KindValidator> validator_;  // typed kinds only
  uint64_t size_ = 0;
  Bytes buffer_;
  size_t buffer_pos_ = 0;
  bool done_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Slot> slots_;  // deque: tasks hold references to their slot
  std::unordered_map<Digest, Slot*, DigestHash> by_hash_;
  size_t running_ = 0;
  Status first_error_;
};

}  // namespace aifs
