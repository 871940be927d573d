#include "aifs/snapshot/mst.h"

#include <algorithm>
#include <array>
#include <memory>
#include <unordered_set>

#include "aifs/core/hex.h"

namespace aifs {

namespace {

constexpr size_t kKeySize = 32;
constexpr size_t kHeaderSize = 5;  // level byte + u32 count
constexpr uint8_t kValuedLeaf = 0x80;  // level byte of a map tree's leaf

Status Corrupt(const std::string& msg) { return err::DataLoss("MST_NODE_CORRUPT", msg); }
Status Invalid(const std::string& msg) { return err::DataLoss("MST_INVALID", msg); }
Status ProofInvalid(const std::string& msg) {
  return err::InvalidArgument("MST_PROOF_INVALID", "inclusion proof rejected: " + msg);
}

std::string Hex(const Digest& d) { return HexEncode(ByteSpan(d.data(), d.size())); }

bool ByKey(const MstEntry& e, const Digest& k) { return e.key < k; }

// Index of the entry covering `k`: the first with key >= k, else the last one.
size_t CoverIndex(const std::vector<MstEntry>& entries, const Digest& k) {
  auto it = std::lower_bound(entries.begin(), entries.end(), k, ByKey);
  if (it == entries.end()) return entries.size() - 1;
  return static_cast<size_t>(it - entries.begin());
}

// Loads a node the tree refers to: absence is data loss, and the node must sit
// at the level its parent implies and be non-empty.
Result<MstNode> LoadTreeNode(MstNodeStore& store, const Digest& hash, unsigned level) {
  auto r = store.Load(hash);
  if (!r.ok()) {
    if (r.status().code() == Code::kNotFound)
      return err::DataLoss("MST_NODE_MISSING", "MST node " + Hex(hash) + " is missing");
    return r.status();
  }
  MstNode node = std::move(r).value();
  if (node.level != level)
    return Invalid("MST node " + Hex(hash) + " has level " + std::to_string(node.level) +
                   ", expected " + std::to_string(level));
  if (node.entries.empty()) return Invalid("MST node " + Hex(hash) + " is empty");
  return node;
}

Status TooLarge(unsigned level) {
  return err::ResourceExhausted("MST_NODE_TOO_LARGE",
                                "an MST node at level " + std::to_string(level) + " would exceed " +
                                    std::to_string(kMstMaxNodeEntries) + " entries");
}

// Builds the levels above a non-empty entry list of `level` (the list itself is
// cut into nodes first) until a level has exactly one node. Every node created
// is passed to `sink` (children before parents); returns the single top node.
using NodeSink = std::function<Status(MstNode&& node, const Digest& hash)>;

struct Top {
  Digest hash{};
  MstNode node;
};

// `valued`: level-0 nodes built are a map tree's leaves.
Result<Top> BuildUp(unsigned level, std::vector<MstEntry> entries, const NodeSink& sink,
                    bool valued) {
  while (true) {
    std::vector<MstEntry> parents;
    MstNode node;
    node.level = static_cast<uint8_t>(level);
    node.valued = valued && level == 0;
    size_t start = 0;
    std::optional<Top> single;
    for (size_t i = 0; i < entries.size(); ++i) {
      if (!(MstIsBoundary(entries[i].key, level) || i + 1 == entries.size())) continue;
      if (i + 1 - start > kMstMaxNodeEntries) return TooLarge(level);
      node.entries.assign(entries.begin() + static_cast<ptrdiff_t>(start),
                          entries.begin() + static_cast<ptrdiff_t>(i) + 1);
      start = i + 1;
      Digest h = node.Hash();
      parents.push_back({node.entries.back().key, h});
      if (i + 1 == entries.size() && parents.size() == 1) {
        single = Top{h, node};
      }
      AIFS_RETURN_IF_ERROR(sink(std::move(node), h));
      node = MstNode{};
      node.level = static_cast<uint8_t>(level);
      node.valued = valued && level == 0;
    }
    if (single) return std::move(*single);
    entries = std::move(parents);
    ++level;
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Nodes

bool MstIsBoundary(const Digest& key, unsigned level) {
  return level < kMstMaxLevel && (key[31 - level] & 0x3F) == 0;
}

Digest MstEmptyRootHash() {
  static const Digest kEmpty = [] {
    const uint8_t zero = 0;
    return Blake3::Hash(ByteSpan(&zero, 1));
  }();
  return kEmpty;
}

MstRoot MstEmptyRoot() { return MstRoot{MstEmptyRootHash(), 0, 0}; }

Digest MstNode::Hash() const {
  thread_local std::vector<uint8_t> buf;
  if (level == 0 && !valued) {
    buf.resize(1 + entries.size() * kKeySize);
    buf[0] = 0x00;
    uint8_t* p = buf.data() + 1;
    for (const MstEntry& e : entries) {
      std::memcpy(p, e.key.data(), kKeySize);
      p += kKeySize;
    }
  } else if (level == 0) {
    buf.resize(1 + entries.size() * 2 * kKeySize);
    buf[0] = 0x02;
    uint8_t* p = buf.data() + 1;
    for (const MstEntry& e : entries) {
      std::memcpy(p, e.key.data(), kKeySize);
      std::memcpy(p + kKeySize, e.hash.data(), kKeySize);
      p += 2 * kKeySize;
    }
  } else {
    buf.resize(2 + entries.size() * 2 * kKeySize);
    buf[0] = 0x01;
    buf[1] = level;
    uint8_t* p = buf.data() + 2;
    for (const MstEntry& e : entries) {
      std::memcpy(p, e.key.data(), kKeySize);
      std::memcpy(p + kKeySize, e.hash.data(), kKeySize);
      p += 2 * kKeySize;
    }
  }
  return Blake3::Hash(ByteSpan(buf.data(), buf.size()));
}

std::string MstNode::Encode() const {
  std::string out;
  EncodeTo(out);
  return out;
}

void MstNode::EncodeTo(std::string& out) const {
  const bool pairs = level != 0 || valued;
  const size_t per = pairs ? 2 * kKeySize : kKeySize;
  out.resize(kHeaderSize + entries.size() * per);
  out[0] = static_cast<char>(level == 0 && valued ? kValuedLeaf : level);
  const auto n = static_cast<uint32_t>(entries.size());
  for (int i = 0; i < 4; ++i) out[1 + i] = static_cast<char>((n >> (8 * i)) & 0xff);
  char* p = out.data() + kHeaderSize;
  for (const MstEntry& e : entries) {
    std::memcpy(p, e.key.data(), kKeySize);
    if (pairs) std::memcpy(p + kKeySize, e.hash.data(), kKeySize);
    p += per;
  }
}

Result<MstNode> MstNode::Decode(std::string_view bytes) {
  if (bytes.size() < kHeaderSize)
    return Corrupt("MST node encoding is " + std::to_string(bytes.size()) + " bytes, too short");
  MstNode node;
  node.level = static_cast<uint8_t>(bytes[0]);
  if (node.level == kValuedLeaf) {
    node.level = 0;
    node.valued = true;
  }
  if (node.level > kMstMaxLevel)
    return Corrupt("MST node level " + std::to_string(node.level) + " is above 32");
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= uint32_t{static_cast<uint8_t>(bytes[1 + i])} << (8 * i);
  if (n > kMstMaxNodeEntries)
    return Corrupt("MST node claims " + std::to_string(n) + " entries, more than the limit");
  if (n == 0 && (node.level != 0 || node.valued)) return Corrupt("empty MST node above level 0");
  const bool pairs = node.level != 0 || node.valued;
  const uint64_t per = pairs ? 2 * kKeySize : kKeySize;
  if (bytes.size() != kHeaderSize + uint64_t{n} * per)
    return Corrupt("MST node with " + std::to_string(n) + " entries is " +
                   std::to_string(bytes.size()) + " bytes, expected " +
                   std::to_string(kHeaderSize + uint64_t{n} * per));
  node.entries.resize(n);
  const char* p = bytes.data() + kHeaderSize;
  for (uint32_t i = 0; i < n; ++i) {
    MstEntry& e = node.entries[i];
    std::memcpy(e.key.data(), p, kKeySize);
    if (pairs) std::memcpy(e.hash.data(), p + kKeySize, kKeySize);
    p += per;
    if (i > 0 && !(node.entries[i - 1].key < e.key))
      return Corrupt("MST node keys are not strictly increasing at entry " + std::to_string(i));
  }
  return node;
}

Result<MstNode> DecodeMstNode(const Digest& expected, std::string_view bytes) {
  auto node = MstNode::Decode(bytes);
  if (!node.ok()) return node.status().WithContext("MST node " + Hex(expected));
  if (node->Hash() != expected)
    return Corrupt("MST node " + Hex(expected) + " does not hash to its name");
  return node;
}

// ---------------------------------------------------------------------------
// In-memory store

Result<MstNode> InMemoryMstNodeStore::Load(const Digest& hash) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(hash);
  if (it == nodes_.end())
    return err::NotFound("MST_NODE_NOT_FOUND", "MST node " + Hex(hash) + " is not stored");
  return DecodeMstNode(hash, it->second);
}

Status InMemoryMstNodeStore::Store(const Digest& hash, const MstNode& node) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = nodes_.try_emplace(hash);
  if (inserted) {
    it->second = node.Encode();
    bytes_ += it->second.size();
    ++writes_;
  }
  return Status::Ok();
}

size_t InMemoryMstNodeStore::size() const {
  std::lock_guard lock(mu_);
  return nodes_.size();
}

uint64_t InMemoryMstNodeStore::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

uint64_t InMemoryMstNodeStore::writes() const {
  std::lock_guard lock(mu_);
  return writes_;
}

std::optional<std::string> InMemoryMstNodeStore::GetRaw(const Digest& hash) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(hash);
  if (it == nodes_.end()) return std::nullopt;
  return it->second;
}

void InMemoryMstNodeStore::PutRaw(const Digest& hash, std::string bytes) {
  std::lock_guard lock(mu_);
  auto& slot = nodes_[hash];
  bytes_ = bytes_ - slot.size() + bytes.size();
  slot = std::move(bytes);
}

bool InMemoryMstNodeStore::Erase(const Digest& hash) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(hash);
  if (it == nodes_.end()) return false;
  bytes_ -= it->second.size();
  nodes_.erase(it);
  return true;
}

// ---------------------------------------------------------------------------
// Cold build

Status MstBuilder::CloseLeaf() {
  last_hash_ = leaf_.Hash();
  AIFS_RETURN_IF_ERROR(store_.Store(last_hash_, leaf_));
  parents_.push_back({leaf_.entries.back().key, last_hash_});
  leaf_.entries.clear();
  return Status::Ok();
}

Status MstBuilder::AddEntry(const Digest& id, const Digest& value) {
  if (count_ > 0 && !(last_id_ < id))
    return err::InvalidArgument("MST_IDS_UNSORTED", "IDs must be strictly increasing; entry " +
                                                        std::to_string(count_) + " (" + Hex(id) +
                                                        ") is not");
  if (leaf_.entries.size() == kMstMaxNodeEntries) return TooLarge(0);
  leaf_.entries.push_back({id, leaf_.valued ? value : Digest{}});
  last_id_ = id;
  ++count_;
  // A level-0 node ends right after a boundary key (and at the very end).
  if (MstIsBoundary(id, 0)) return CloseLeaf();
  return Status::Ok();
}

Result<MstRoot> MstBuilder::Finish() {
  if (count_ == 0) {
    AIFS_RETURN_IF_ERROR(store_.Store(MstEmptyRootHash(), MstNode{}));
    return MstEmptyRoot();
  }
  if (!leaf_.entries.empty()) AIFS_RETURN_IF_ERROR(CloseLeaf());
  if (parents_.size() == 1) return MstRoot{last_hash_, 0, count_};
  const NodeSink sink = [this](MstNode&& node, const Digest& h) { return store_.Store(h, node); };
  AIFS_ASSIGN_OR_RETURN(Top top, BuildUp(1, std::move(parents_), sink, false));
  return MstRoot{top.hash, top.node.level, count_};
}

Result<MstRoot> BuildMst(std::span<const Digest> ids, MstNodeStore& store) {
  for (size_t i = 1; i < ids.size(); ++i) {
    if (!(ids[i - 1] < ids[i]))
      return err::InvalidArgument("MST_IDS_UNSORTED", "IDs must be strictly increasing; entry " +
                                                          std::to_string(i) + " (" + Hex(ids[i]) +
                                                          ") is not");
  }
  MstBuilder builder(store);
  for (const Digest& id : ids) AIFS_RETURN_IF_ERROR(builder.Add(id));
  return builder.Finish();
}

// ---------------------------------------------------------------------------
// Incremental update

namespace {

// A change of one level's entry list: level 0 adds/removes IDs (hash unused);
// above, upserts/removes (node key, node hash) entries.
struct LevelChange {
  Digest key{};
  Digest hash{};
  bool upsert = false;
};

class Updater {
 public:
  // `valued`: the tree is a map tree (level-0 changes carry values in `hash`).
  Updater(MstNodeStore& store, bool valued) : store_(store), valued_(valued) {}

  // `changes`: level-0 changes, strictly increasing by key.
  Result<MstRoot> Run(const MstRoot& old, std::vector<LevelChange> changes);

 private:
  // A level-l node of the old tree, as its parent names it.
  struct Pos {
    Digest key{};
    Digest hash{};
    bool last = false;  // the last node of its level
  };

  Result<const MstNode*> Get(const Digest& hash, unsigned level);
  Result<Pos> Cover(unsigned level, const Digest& k);
  Result<std::optional<Pos>> Next(unsigned level, const Digest& key);
  Status Apply(unsigned level, const std::vector<MstEntry>& old,
               std::span<const LevelChange> changes, std::vector<MstEntry>& out);
  Status ProcessLevel(unsigned level, const std::vector<LevelChange>& changes,
                      std::vector<LevelChange>& up);
  void Remember(MstNode&& node, const Digest& hash);

  MstNodeStore& store_;
  const bool valued_;
  std::unordered_map<Digest, std::unique_ptr<const MstNode>, DigestHash> cache_;
  const MstNode* root_ = nullptr;  // old root node
  unsigned height_ = 0;            // old height
  int64_t delta_ = 0;              // effective adds - removes
  // Nodes of the new tree that the old one lacks, in creation order (children
  // before parents); stored at the end, once the new root level is known.
  std::vector<std::pair<Digest, const MstNode*>> created_;
};

Result<const MstNode*> Updater::Get(const Digest& hash, unsigned level) {
  auto it = cache_.find(hash);
  if (it == cache_.end()) {
    AIFS_ASSIGN_OR_RETURN(MstNode node, LoadTreeNode(store_, hash, level));
    if (node.valued != (valued_ && level == 0))
      return Invalid("MST leaf " + Hex(hash) + (valued_ ? " is not" : " is") + " a map leaf");
    it = cache_.emplace(hash, std::make_unique<const MstNode>(std::move(node))).first;
  } else if (it->second->level != level) {
    return Invalid("MST node " + Hex(hash) + " is referenced at two levels");
  }
  return it->second.get();
}

void Updater::Remember(MstNode&& node, const Digest& hash) {
  auto it = cache_.find(hash);
  if (it == cache_.end())
    it = cache_.emplace(hash, std::make_unique<const MstNode>(std::move(node))).first;
  created_.emplace_back(hash, it->second.get());
}

// The old level-l node whose key is the smallest >= k, or the last node of the
// level: descend from the root choosing the covering entry at every level.
Result<Updater::Pos> Updater::Cover(unsigned level, const Digest& k) {
  const MstNode* node = root_;
  bool last = true;
  for (unsigned m = height_; m > level; --m) {
    const size_t i = CoverIndex(node->entries, k);
    last = last && i + 1 == node->entries.size();
    const MstEntry& e = node->entries[i];
    if (m - 1 == level) return Pos{e.key, e.hash, last};
    AIFS_ASSIGN_OR_RETURN(node, Get(e.hash, m - 1));
  }
  return err::Internal("MST_INTERNAL", "Cover called at the root level");
}

// The old level-l node right after the one keyed `key` (none after the last):
// descend choosing the first entry whose key is > key. Below the root such an
// entry always exists, as a subtree's last key is its parent entry's key.
Result<std::optional<Updater::Pos>> Updater::Next(unsigned level, const Digest& key) {
  const MstNode* node = root_;
  bool last = true;
  for (unsigned m = height_; m > level; --m) {
    auto it = std::upper_bound(node->entries.begin(), node->entries.end(), key,
                               [](const Digest& k, const MstEntry& e) { return k < e.key; });
    if (it == node->entries.end()) {
      if (m == height_) return std::optional<Pos>();
      return Invalid("MST parent key does not match its child's last key");
    }
    last = last && it + 1 == node->entries.end();
    if (m - 1 == level) return std::optional<Pos>(Pos{it->key, it->hash, last});
    AIFS_ASSIGN_OR_RETURN(node, Get(it->hash, m - 1));
  }
  return err::Internal("MST_INTERNAL", "Next called at the root level");
}

// out += old with `changes` applied (all changes fall into this stretch).
Status Updater::Apply(unsigned level, const std::vector<MstEntry>& old,
                      std::span<const LevelChange> changes, std::vector<MstEntry>& out) {
  size_t i = 0;
  for (const LevelChange& c : changes) {
    while (i < old.size() && old[i].key < c.key) out.push_back(old[i++]);
    const bool present = i < old.size() && old[i].key == c.key;
    if (c.upsert) {
      if (present)
        ++i;
      else if (level == 0)
        ++delta_;
      out.push_back({c.key, c.hash});  // a set's level-0 changes carry zero
    } else if (present) {
      ++i;
      if (level == 0) --delta_;
    } else if (level != 0) {
      return Invalid("MST update removes node key " + Hex(c.key) + " absent from level " +
                     std::to_string(level));
    }
  }
  out.insert(out.end(), old.begin() + static_cast<ptrdiff_t>(i), old.end());
  return Status::Ok();
}

// Level l below the old root: re-chunk each run of affected nodes; the
// replaced/new nodes become the changes of level l + 1.
Status Updater::ProcessLevel(unsigned level, const std::vector<LevelChange>& changes,
                             std::vector<LevelChange>& up) {
  std::span<const LevelChange> all(changes);
  size_t i = 0;
  std::vector<MstEntry> merged;
  std::vector<MstEntry> old_nodes;
  while (i < all.size()) {
    merged.clear();
    old_nodes.clear();
    AIFS_ASSIGN_OR_RETURN(Pos p, Cover(level, all[i].key));
    while (true) {
      AIFS_ASSIGN_OR_RETURN(const MstNode* node, Get(p.hash, level));
      if (node->entries.back().key != p.key)
        return Invalid("MST parent key does not match the last key of node " + Hex(p.hash));
      old_nodes.push_back({p.key, p.hash});
      size_t j = i;
      while (j < all.size() && (p.last || all[j].key <= p.key)) ++j;
      AIFS_RETURN_IF_ERROR(Apply(level, node->entries, all.subspan(i, j - i), merged));
      i = j;
      // The run may stop where the new entries end with a boundary (or are
      // gone): chunking restarts there exactly as it did in the old tree.
      if (p.last || merged.empty() || MstIsBoundary(merged.back().key, level)) break;
      AIFS_ASSIGN_OR_RETURN(std::optional<Pos> next, Next(level, p.key));
      if (!next) return Invalid("MST level " + std::to_string(level) + " ends early");
      p = *next;
    }
    // Re-chunk the run and diff its nodes against the old ones (both by key).
    size_t o = 0;
    size_t start = 0;
    for (size_t k = 0; k < merged.size(); ++k) {
      if (!(MstIsBoundary(merged[k].key, level) || k + 1 == merged.size())) continue;
      if (k + 1 - start > kMstMaxNodeEntries) return TooLarge(level);
      MstNode node;
      node.level = static_cast<uint8_t>(level);
      node.valued = valued_ && level == 0;
      node.entries.assign(merged.begin() + static_cast<ptrdiff_t>(start),
                          merged.begin() + static_cast<ptrdiff_t>(k) + 1);
      start = k + 1;
      const Digest key = node.entries.back().key;
      const Digest h = node.Hash();
      while (o < old_nodes.size() && old_nodes[o].key < key)
        up.push_back({old_nodes[o++].key, Digest{}, false});
      if (o < old_nodes.size() && old_nodes[o].key == key && old_nodes[o].hash == h) {
        ++o;  // unchanged node
        continue;
      }
      if (o < old_nodes.size() && old_nodes[o].key == key) ++o;  // replaced
      up.push_back({key, h, true});
      Remember(std::move(node), h);
    }
    while (o < old_nodes.size()) up.push_back({old_nodes[o++].key, Digest{}, false});
  }
  return Status::Ok();
}

Result<MstRoot> Updater::Run(const MstRoot& old, std::vector<LevelChange> level_changes) {
  for (size_t i = 1; i < level_changes.size(); ++i) {
    if (!(level_changes[i - 1].key < level_changes[i].key))
      return err::InvalidArgument("MST_CHANGES_UNSORTED",
                                  "changes must be strictly increasing by ID; entry " +
                                      std::to_string(i) + " (" + Hex(level_changes[i].key) +
                                      ") is not");
  }
  if (old.height > kMstMaxLevel || (old.count == 0 && !(old == MstEmptyRoot())) ||
      (old.count != 0 && old.hash == MstEmptyRootHash()))
    return err::InvalidArgument("MST_ROOT_INVALID", "not an MST root: " + Hex(old.hash) +
                                                        " height " + std::to_string(old.height) +
                                                        " count " + std::to_string(old.count));
  if (level_changes.empty()) return old;

  height_ = old.height;
  MstNode empty_root;
  if (old.count == 0) {
    root_ = &empty_root;
  } else {
    AIFS_ASSIGN_OR_RETURN(root_, Get(old.hash, height_));
    if (height_ > 0 && root_->entries.size() < 2)
      return Invalid("MST root " + Hex(old.hash) + " above level 0 has a single entry");
  }

  for (unsigned level = 0; level < height_; ++level) {
    std::vector<LevelChange> up;
    AIFS_RETURN_IF_ERROR(ProcessLevel(level, level_changes, up));
    if (up.empty()) return old;  // nothing changed effectively
    level_changes = std::move(up);
  }

  // The old root level: its whole entry list is at hand; apply and build up.
  std::vector<MstEntry> entries;
  AIFS_RETURN_IF_ERROR(Apply(height_, root_->entries, level_changes, entries));
  if (delta_ < 0 && static_cast<uint64_t>(-delta_) > old.count)
    return Invalid("MST root count " + std::to_string(old.count) + " is too small");
  const uint64_t count = old.count + static_cast<uint64_t>(delta_);
  if (entries.empty() != (count == 0))
    return Invalid("MST root count " + std::to_string(old.count) + " does not match the tree");
  if (entries.empty()) {
    AIFS_RETURN_IF_ERROR(store_.Store(MstEmptyRootHash(), MstNode{}));
    return MstEmptyRoot();
  }
  if (height_ == 0 && entries == root_->entries) return old;  // no effective change

  const NodeSink sink = [this](MstNode&& node, const Digest& h) {
    Remember(std::move(node), h);
    return Status::Ok();
  };
  AIFS_ASSIGN_OR_RETURN(Top top, BuildUp(height_, std::move(entries), sink, valued_));
  // A top node with a single entry means the level below has one node: the
  // tree shrinks to the first level with one node.
  Digest root_hash = top.hash;
  const MstNode* root_node = &top.node;
  while (root_node->level > 0 && root_node->entries.size() == 1) {
    root_hash = root_node->entries[0].hash;
    AIFS_ASSIGN_OR_RETURN(root_node, Get(root_hash, root_node->level - 1u));
  }
  const uint8_t height = root_node->level;

  std::unordered_set<Digest, DigestHash> stored;
  for (const auto& [h, node] : created_) {
    if (node->level > height || !stored.insert(h).second) continue;
    AIFS_RETURN_IF_ERROR(store_.Store(h, *node));
  }
  return MstRoot{root_hash, height, count};
}

}  // namespace

Result<MstRoot> UpdateMst(const MstRoot& old, std::span<const MstChange> sorted_changes,
                          MstNodeStore& store) {
  std::vector<LevelChange> changes;
  changes.reserve(sorted_changes.size());
  for (const auto& [id, add] : sorted_changes) changes.push_back({id, Digest{}, add});
  return Updater(store, false).Run(old, std::move(changes));
}

Result<MstRoot> UpdateMstMap(const MstRoot& old, std::span<const MstMapChange> sorted_changes,
                             MstNodeStore& store) {
  std::vector<LevelChange> changes;
  changes.reserve(sorted_changes.size());
  for (const MstMapChange& c : sorted_changes)
    changes.push_back({c.key, c.value.value_or(Digest{}), c.value.has_value()});
  return Updater(store, true).Run(old, std::move(changes));
}

Result<Digest> MstLookup(const MstRoot& root, const Digest& key, MstNodeStore& store) {
  auto path = ProveInclusion(root, key, store);
  if (!path.ok()) {
    if (path.status().code() == Code::kNotFound)
      return err::NotFound("MST_KEY_NOT_FOUND", "key " + Hex(key) + " is not in the tree");
    return path.status();
  }
  const MstNode& leaf = path->back();
  if (!leaf.valued) return Invalid("MST leaf is not a map leaf");
  return leaf.entries[CoverIndex(leaf.entries, key)].hash;
}

// ---------------------------------------------------------------------------
// Proofs

Result<std::vector<MstNode>> ProveInclusion(const MstRoot& root, const Digest& id,
                                            MstNodeStore& store) {
  std::vector<MstNode> path;
  if (root.count == 0)
    return err::NotFound("ASSET_NOT_IN_SNAPSHOT", "asset " + Hex(id) + " is not in the snapshot");
  Digest hash = root.hash;
  for (int level = root.height; level >= 0; --level) {
    AIFS_ASSIGN_OR_RETURN(MstNode node, LoadTreeNode(store, hash, static_cast<unsigned>(level)));
    const size_t i = CoverIndex(node.entries, id);
    hash = node.entries[i].hash;
    const bool found = level == 0 && node.entries[i].key == id;
    path.push_back(std::move(node));
    if (level == 0 && !found)
      return err::NotFound("ASSET_NOT_IN_SNAPSHOT", "asset " + Hex(id) + " is not in the snapshot");
  }
  return path;
}

Status VerifyInclusion(const Digest& root, const Digest& id, std::span<const MstNode> path,
                       const Digest* value) {
  if (path.empty()) return ProofInvalid("empty path");
  if (path[0].level > kMstMaxLevel) return ProofInvalid("root level above 32");
  if (path.size() != path[0].level + size_t{1})
    return ProofInvalid("path has " + std::to_string(path.size()) + " nodes for a root at level " +
                        std::to_string(path[0].level));
  if (path[0].level > 0 && path[0].entries.size() < 2)
    return ProofInvalid("root above level 0 with a single entry");
  if (path[0].Hash() != root) return ProofInvalid("top node does not hash to the root");
  bool rightmost = true;
  for (size_t d = 0; d < path.size(); ++d) {
    const MstNode& node = path[d];
    const unsigned level = node.level;
    if (level != path[0].level - d) return ProofInvalid("levels do not decrease by one");
    if (node.entries.empty()) return ProofInvalid("empty node at depth " + std::to_string(d));
    for (size_t i = 0; i < node.entries.size(); ++i) {
      if (i > 0 && !(node.entries[i - 1].key < node.entries[i].key))
        return ProofInvalid("keys not increasing at depth " + std::to_string(d));
      if (i + 1 < node.entries.size() && MstIsBoundary(node.entries[i].key, level))
        return ProofInvalid("boundary key inside a node at depth " + std::to_string(d));
    }
    if (!rightmost && !MstIsBoundary(node.entries.back().key, level))
      return ProofInvalid("node at depth " + std::to_string(d) + " ends without a boundary");
    if (level == 0) {
      if (node.valued != (value != nullptr))
        return ProofInvalid(value ? "the leaf is not a map leaf" : "the leaf is a map leaf");
      auto at = std::lower_bound(node.entries.begin(), node.entries.end(), id, ByKey);
      if (at == node.entries.end() || at->key != id)
        return ProofInvalid("the leaf does not contain the ID");
      if (value && at->hash != *value) return ProofInvalid("the leaf holds another value");
      return Status::Ok();
    }
    auto it = std::lower_bound(node.entries.begin(), node.entries.end(), id, ByKey);
    if (it == node.entries.end()) return ProofInvalid("the ID is above every key of a node");
    const MstNode& child = path[d + 1];
    if (child.entries.empty() || child.entries.back().key != it->key)
      return ProofInvalid("child's last key differs from its parent entry at depth " +
                          std::to_string(d + 1));
    if (child.Hash() != it->hash)
      return ProofInvalid("child does not hash to its parent entry at depth " +
                          std::to_string(d + 1));
    rightmost = rightmost && it + 1 == node.entries.end();
  }
  return ProofInvalid("path does not end at level 0");
}

// ---------------------------------------------------------------------------
// Walks

namespace {

Status WalkIds(MstNodeStore& store, const Digest& hash, unsigned level,
               const std::function<bool(const MstEntry&)>& fn, bool& stop) {
  AIFS_ASSIGN_OR_RETURN(MstNode node, LoadTreeNode(store, hash, level));
  for (const MstEntry& e : node.entries) {
    if (level == 0) {
      if (!fn(e)) stop = true;
    } else {
      AIFS_RETURN_IF_ERROR(WalkIds(store, e.hash, level - 1, fn, stop));
    }
    if (stop) break;
  }
  return Status::Ok();
}

class TreeVerifier {
 public:
  TreeVerifier(MstNodeStore& store, bool valued) : store_(store), valued_(valued) {}

  Status Node(const Digest& hash, unsigned level, const Digest* parent_key, bool rightmost) {
    auto r = store_.Load(hash);
    if (!r.ok()) {
      if (r.status().code() == Code::kNotFound)
        return err::DataLoss("MST_NODE_MISSING", "MST node " + Hex(hash) + " is missing");
      return r.status();
    }
    const MstNode& node = *r;
    if (node.Hash() != hash) return Corrupt("MST node " + Hex(hash) + " does not hash to its name");
    const std::string where = "MST node " + Hex(hash) + " (level " + std::to_string(level) + ")";
    if (node.level != level) return Invalid(where + " has level " + std::to_string(node.level));
    if (node.valued != (valued_ && level == 0))
      return Invalid(where + (valued_ ? " is not a map leaf" : " is a map leaf"));
    if (node.entries.empty()) return Invalid(where + " is empty");
    if (parent_key != nullptr && node.entries.back().key != *parent_key)
      return Invalid(where + ": last key differs from its parent entry");
    for (size_t i = 0; i < node.entries.size(); ++i) {
      const Digest& k = node.entries[i].key;
      if (prev_[level] && !(*prev_[level] < k))
        return Invalid(where + ": keys not strictly increasing across level " +
                       std::to_string(level));
      prev_[level] = k;
      const bool last = i + 1 == node.entries.size();
      if (!last && MstIsBoundary(k, level))
        return Invalid(where + ": boundary key inside the node");
      if (last && !rightmost && !MstIsBoundary(k, level))
        return Invalid(where + ": node ends without a boundary before the end of its level");
    }
    if (level == 0) {
      ids_ += node.entries.size();
      return Status::Ok();
    }
    for (size_t i = 0; i < node.entries.size(); ++i) {
      const MstEntry& e = node.entries[i];
      AIFS_RETURN_IF_ERROR(
          Node(e.hash, level - 1, &e.key, rightmost && i + 1 == node.entries.size()));
    }
    return Status::Ok();
  }

  uint64_t ids() const { return ids_; }

 private:
  MstNodeStore& store_;
  const bool valued_;
  std::array<std::optional<Digest>, kMstMaxLevel + 1> prev_;
  uint64_t ids_ = 0;
};

}  // namespace

Status ForEachEntry(const MstRoot& root, MstNodeStore& store,
                    const std::function<bool(const MstEntry&)>& fn) {
  if (root.count == 0) return Status::Ok();
  bool stop = false;
  return WalkIds(store, root.hash, root.height, fn, stop);
}

Status ForEachId(const MstRoot& root, MstNodeStore& store,
                 const std::function<bool(const Digest&)>& fn) {
  return ForEachEntry(root, store, [&](const MstEntry& e) { return fn(e.key); });
}

Status VerifyMst(const MstRoot& root, MstNodeStore& store, bool valued) {
  if (root.height > kMstMaxLevel) return Invalid("MST height above 32");
  if (root.count == 0 || root.hash == MstEmptyRootHash()) {
    if (!(root == MstEmptyRoot()))
      return Invalid("MST root " + Hex(root.hash) + " with count " + std::to_string(root.count) +
                     " and height " + std::to_string(root.height) + " is not the empty tree");
    return Status::Ok();
  }
  TreeVerifier verifier(store, valued);
  AIFS_ASSIGN_OR_RETURN(MstNode top, LoadTreeNode(store, root.hash, root.height));
  if (root.height > 0 && top.entries.size() < 2)
    return Invalid("MST root above level 0 has a single entry (a lower level has one node)");
  AIFS_RETURN_IF_ERROR(verifier.Node(root.hash, root.height, nullptr, true));
  if (verifier.ids() != root.count)
    return Invalid("MST holds " + std::to_string(verifier.ids()) + " IDs, its root claims " +
                   std::to_string(root.count));
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Diff

namespace {

// An in-order stream over a tree whose items are IDs or whole subtrees; a
// subtree is expanded (replaced by its node's entries) only when needed.
class DiffCursor {
 public:
  struct Item {
    bool id = false;     // key is an ID; otherwise a subtree
    unsigned level = 0;  // subtree: level of its top node
    Digest key{};        // ID, or the subtree's last key
    Digest hash{};       // subtree: its top node's hash; a map's ID: its value
  };

  DiffCursor(MstNodeStore& store, const MstRoot& root) : store_(store) {
    if (root.count != 0) pending_root_ = Item{false, root.height, Digest{}, root.hash};
  }

  bool empty() const { return !pending_root_ && stack_.empty(); }

  Item front() const {
    if (pending_root_) return *pending_root_;
    const auto& [node, i] = stack_.back();
    const MstEntry& e = node->entries[i];
    if (node->level == 0) return Item{true, 0, e.key, e.hash};
    return Item{false, node->level - 1u, e.key, e.hash};
  }

  void pop() {
    if (pending_root_) {
      pending_root_.reset();
      return;
    }
    ++stack_.back().second;
    while (!stack_.empty() && stack_.back().second >= stack_.back().first->entries.size())
      stack_.pop_back();
  }

  Status expand() {
    const Item it = front();
    const bool is_root = pending_root_.has_value();
    pop();
    AIFS_ASSIGN_OR_RETURN(MstNode node, LoadTreeNode(store_, it.hash, it.level));
    if (!is_root && node.entries.back().key != it.key)
      return Invalid("MST parent key does not match the last key of node " + Hex(it.hash));
    stack_.emplace_back(std::make_shared<const MstNode>(std::move(node)), 0);
    return Status::Ok();
  }

 private:
  MstNodeStore& store_;
  std::optional<Item> pending_root_;
  std::vector<std::pair<std::shared_ptr<const MstNode>, size_t>> stack_;
};

}  // namespace

Status DiffMstMap(const MstRoot& a, const MstRoot& b, MstNodeStore& store,
                  std::vector<MstMapDiff>& out) {
  out.clear();
  if (a.hash == b.hash) return Status::Ok();
  DiffCursor ca(store, a);
  DiffCursor cb(store, b);
  while (!ca.empty() || !cb.empty()) {
    if (ca.empty() || cb.empty()) {
      DiffCursor& c = ca.empty() ? cb : ca;
      const DiffCursor::Item it = c.front();
      if (it.id) {
        if (ca.empty())
          out.push_back({it.key, std::nullopt, it.hash});
        else
          out.push_back({it.key, it.hash, std::nullopt});
        c.pop();
      } else {
        AIFS_RETURN_IF_ERROR(c.expand());
      }
      continue;
    }
    const DiffCursor::Item fa = ca.front();
    const DiffCursor::Item fb = cb.front();
    if (fa.id && fb.id) {
      if (fa.key == fb.key) {
        if (fa.hash != fb.hash) out.push_back({fa.key, fa.hash, fb.hash});
        ca.pop();
        cb.pop();
      } else if (fa.key < fb.key) {
        out.push_back({fa.key, fa.hash, std::nullopt});
        ca.pop();
      } else {
        out.push_back({fb.key, std::nullopt, fb.hash});
        cb.pop();
      }
    } else if (!fa.id && !fb.id && fa.hash == fb.hash) {
      ca.pop();  // identical subtrees: the same entries on both sides
      cb.pop();
    } else if (fa.id) {
      AIFS_RETURN_IF_ERROR(cb.expand());
    } else if (fb.id) {
      AIFS_RETURN_IF_ERROR(ca.expand());
    } else if (fa.level != fb.level) {
      AIFS_RETURN_IF_ERROR(fa.level > fb.level ? ca.expand() : cb.expand());
    } else {
      AIFS_RETURN_IF_ERROR(ca.expand());
      AIFS_RETURN_IF_ERROR(cb.expand());
    }
  }
  return Status::Ok();
}

Status DiffMst(const MstRoot& a, const MstRoot& b, MstNodeStore& store, std::vector<Digest>& added,
               std::vector<Digest>& removed) {
  added.clear();
  removed.clear();
  std::vector<MstMapDiff> diff;
  AIFS_RETURN_IF_ERROR(DiffMstMap(a, b, store, diff));
  for (const MstMapDiff& d : diff) {
    if (!d.before) added.push_back(d.key);
    if (!d.after) removed.push_back(d.key);
  }
  return Status::Ok();
}

}  // namespace aifs
