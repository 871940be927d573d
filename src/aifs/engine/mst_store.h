// The Merkle search tree nodes of one namespace in the MetaStore
// (keys::MstNode), behind the MstNodeStore interface. Internal to the engine.
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "aifs/meta/keys.h"
#include "aifs/meta/meta_store.h"
#include "aifs/snapshot/mst.h"

namespace aifs {

// Decoded tree nodes recently read, by namespace and hash, up to a byte
// budget (least recently used out first). Nodes never change (their key is
// their hash), so a hit is as good as a read that re-checks the hash; pruning
// calls Clear(), so a node it deletes is not served from here. Thread-safe.
class MstNodeCache {
 public:
  explicit MstNodeCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}

  std::shared_ptr<const MstNode> Get(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }
  void Put(const std::string& key, std::shared_ptr<const MstNode> node) {
    const size_t cost = Cost(*node);
    std::lock_guard lock(mu_);
    if (map_.count(key) || cost > capacity_) return;
    lru_.emplace_front(key, std::move(node));
    map_.emplace(key, lru_.begin());
    used_ += cost;
    while (used_ > capacity_) {
      used_ -= Cost(*lru_.back().second);
      map_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }
  void Clear() {
    std::lock_guard lock(mu_);
    map_.clear();
    lru_.clear();
    used_ = 0;
  }

 private:
  static size_t Cost(const MstNode& n) { return 128 + n.entries.size() * sizeof(MstEntry); }

  using Entry = std::pair<std::string, std::shared_ptr<const MstNode>>;
  std::mutex mu_;
  const size_t capacity_;
  size_t used_ = 0;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<std::string, std::list<Entry>::iterator> map_;
};

// Tree nodes of one namespace in the MetaStore, for reading (no transaction)
// or for a snapshot being made, whose new nodes go either
//   - into its transaction (kInTxn), committed atomically with it; or
//   - (kBefore) straight into the store, outside any transaction, in unsynced
//     batches of ~1 MiB, and Finish() writes the rest: the synced commit of
//     the transaction that then refers to them makes them durable. Nodes are
//     content-addressed, so there is nothing to conflict on, and this skips
//     the transaction's indexed write batch, several times the CPU of a plain
//     one at a million IDs. A crash or a failed commit leaves unreferenced
//     nodes, which pruning reclaims.
// Not thread-safe: one per tree operation.
class MetaMstStore : public MstNodeStore {
 public:
  enum class Mode { kReadOnly, kInTxn, kBefore };

  // `cache` (optional) serves and keeps nodes read from `meta`; leave it out
  // where every node must be re-read (verification).
  MetaMstStore(MetaStore& meta, std::string ns, MetaTxn* txn = nullptr, Mode mode = Mode::kReadOnly,
               MstNodeCache* cache = nullptr)
      : meta_(meta),
        ns_(std::move(ns)),
        txn_(txn),
        mode_(mode),
        cache_(cache),
        key_(keys::MstNodePrefix(ns_)) {
    key_.resize(key_.size() + 2 * kDigestSize);
  }

  Result<MstNode> Load(const Digest& hash) override {
    std::optional<std::string> bytes;
    if (mode_ == Mode::kInTxn && written_.count(hash)) {  // only the transaction sees it yet
      AIFS_ASSIGN_OR_RETURN(bytes, txn_->Get(Key(hash)));
    } else {
      if (mode_ == Mode::kBefore && written_.count(hash)) AIFS_RETURN_IF_ERROR(Finish());
      if (cache_)
        if (auto hit = cache_->Get(Key(hash))) return *hit;
      AIFS_ASSIGN_OR_RETURN(bytes, meta_.Get(Key(hash)));
      if (bytes && cache_) {
        AIFS_ASSIGN_OR_RETURN(MstNode node, DecodeMstNode(hash, *bytes));
        cache_->Put(Key(hash), std::make_shared<const MstNode>(node));
        return node;
      }
    }
    if (!bytes) return err::NotFound("MST_NODE_NOT_FOUND", "snapshot tree node is missing");
    return DecodeMstNode(hash, *bytes);
  }
  Status Store(const Digest& hash, const MstNode& node) override {
    if (mode_ == Mode::kReadOnly)
      return err::Internal("MST_STORE_READ_ONLY", "this tree node store only reads");
    if (!written_.insert(hash).second) return Status::Ok();
    if (cache_) stored_.emplace_back(hash, std::make_shared<const MstNode>(node));
    node.EncodeTo(value_);
    if (mode_ == Mode::kInTxn) return txn_->Put(Key(hash), value_);
    if (!batch_) batch_ = meta_.NewBatch();
    AIFS_RETURN_IF_ERROR(batch_->Put(Key(hash), value_));
    if (batch_->buffered_bytes() >= kBatchBytes) return batch_->Write();
    return Status::Ok();
  }
  // kBefore: writes the nodes still buffered (call before committing).
  Status Finish() { return batch_ ? batch_->Write() : Status::Ok(); }
  // Once the transaction that refers to the nodes stored here committed
  // (they are durable then), puts them in the cache: the next snapshot
  // updates this tree without reading its paths back (on PostgreSQL, one
  // round trip a node).
  void CacheStored() {
    for (auto& [hash, node] : stored_) cache_->Put(Key(hash), std::move(node));
    stored_.clear();
  }

 private:
  static constexpr size_t kDigestSize = std::tuple_size_v<Digest>;
  static constexpr size_t kBatchBytes = size_t{1} << 20;

  // keys::MstNode(ns_, hash), formatted into one reused buffer.
  const std::string& Key(const Digest& hash) {
    static constexpr char kDigits[] = "0123456789abcdef";
    char* out = key_.data() + key_.size() - 2 * kDigestSize;
    for (uint8_t b : hash) {
      *out++ = kDigits[b >> 4];
      *out++ = kDigits[b & 0xf];
    }
    return key_;
  }

  MetaStore& meta_;
  std::string ns_;
  MetaTxn* txn_;
  Mode mode_;
  MstNodeCache* cache_;
  std::string key_;
  std::string value_;
  std::unique_ptr<MetaBatch> batch_;
  std::unordered_set<Digest, DigestHash> written_;  // nodes stored so far
  std::vector<std::pair<Digest, std::shared_ptr<const MstNode>>> stored_;  // for CacheStored
};

}  // namespace aifs
