// The one translation unit that includes hnswlib (Debian libhnswlib-dev
// 0.6.2, header-only).
//
// hnswlib builds and stores the graph; the search is ours, walking hnswlib's
// public graph structures, because its searchKnn keeps one ef per index (so
// concurrent searches would have to take turns to set it), counts every hop in
// shared atomics, and can only drop filtered results after the walk (a
// selective filter then empties the result instead of widening the walk).
#include "aifs/vector/vector_index.h"

#include <hnswlib/hnswlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <queue>
#include <shared_mutex>
#include <unordered_map>
#include <utility>

#include "aifs/core/file_util.h"
#include "aifs/core/huge_pages.h"
#include "aifs/storage/sealed_file.h"

namespace aifs {

std::optional<ReadRange> VectorAttrs::SourceRange() const {
  auto number = [&](std::string_view key) -> std::optional<uint64_t> {
    auto it = std::lower_bound(metadata.begin(), metadata.end(), key,
                               [](const auto& kv, std::string_view k) { return kv.first < k; });
    if (it == metadata.end() || it->first != key) return std::nullopt;
    uint64_t v = 0;
    const char* end = it->second.data() + it->second.size();
    auto [p, ec] = std::from_chars(it->second.data(), end, v);
    if (ec != std::errc() || p != end) return std::nullopt;
    return v;
  };
  auto offset = number(kSourceOffsetKey), length = number(kSourceLengthKey);
  if (!offset || !length) return std::nullopt;
  return ReadRange{*offset, *length};
}

namespace {

constexpr size_t kM = 16;
constexpr size_t kEfConstruction = 200;
constexpr size_t kInitialCapacity = 1024;
// UpsertMany inserts in parallel only into a graph of at least this many nodes.
constexpr size_t kParallelFrom = 10000;
constexpr char kLabelsMagic[8] = {'A', 'I', 'F', 'S', 'L', 'B', 'L', '2'};
// Inner-product spaces reserve this much headroom above the largest norm
// seen, so that a slowly growing norm does not rebuild the graph every time.
constexpr float kNormHeadroom = 1.25f;

using Graph = hnswlib::HierarchicalNSW<float>;
using InternalId = hnswlib::tableint;
// A label with no live node: removed, or never added.
constexpr InternalId kGone = std::numeric_limits<InternalId>::max();
// Exact scans fetch the vector of the candidate this many places ahead.
constexpr size_t kScanLookahead = 8;

struct IdHash {
  size_t operator()(const AssetId& id) const noexcept {
    size_t h;
    std::memcpy(&h, id.bytes().data(), sizeof(h));
    return h;
  }
};

float Dot(std::span<const float> a, std::span<const float> b) {
  float s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

void Normalise(std::vector<float>& v) {
  const float n = std::sqrt(Dot(v, v));
  if (n > 0)
    for (float& x : v) x /= n;
}

// The sealing context of one checkpoint file: the index's, then its name.
Bytes FileContext(ByteSpan context, std::string_view name) {
  Bytes c(context.begin(), context.end());
  c.push_back(0);
  c.insert(c.end(), name.begin(), name.end());
  return c;
}

// An anonymous file in memory (memfd) that hnswlib, which reads and writes
// only by path, can use through /proc/self/fd: checkpoints are sealed on
// their way to disk and opened on their way back, never plaintext on disk.
struct MemFile {
  int fd = -1;
  ~MemFile() {
    if (fd >= 0) ::close(fd);
  }
  Status Create() {
    fd = ::memfd_create("aifs-index", MFD_CLOEXEC);
    if (fd < 0) return err::FromErrno(errno, "memfd_create");
    return Status::Ok();
  }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd); }
};

// Little-endian length-prefixed fields of the labels file.
void PutU32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void PutString(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool Bytes(size_t n, std::string_view& out) {
    if (data_.size() - pos_ < n) return false;
    out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool U32(uint32_t& v) {
    std::string_view b;
    if (!Bytes(4, b)) return false;
    std::memcpy(&v, b.data(), 4);
    return true;
  }
  bool String(std::string& s) {
    uint32_t n;
    std::string_view b;
    if (!U32(n) || !Bytes(n, b)) return false;
    s.assign(b);
    return true;
  }
  bool done() const { return pos_ == data_.size(); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

// Runs fn(0) .. fn(n - 1), spread over the pool's threads and the caller's
// (which alone runs them all without a pool); returns when all are done.
void ForEachSpread(ThreadPool* pool, size_t n, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  auto drain = [&] {
    for (size_t i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::future<void>> helpers;
  if (pool && n > 1)
    for (size_t t = 0; t < std::min(pool->size(), n - 1); ++t) helpers.push_back(pool->Submit(drain));
  drain();
  for (auto& h : helpers) h.wait();
}

// How vectors live in the graph:
//   - L2: as given, hnswlib's L2 space (squared distance);
//   - cosine: unit length, hnswlib's inner-product space (1 - dot);
//   - inner product: reduced to L2 (maximum inner product search is not a
//     metric search, and the graph's greedy walk misses): a vector x becomes
//     (x, sqrt(M² - |x|²)) and a query q becomes (q, 0), so that
//     |q' - x'|² = |q|² + M² - 2 q·x orders vectors exactly by q·x. M is
//     above every norm stored; a larger vector rebuilds the graph with a
//     larger M.
class HnswIndex final : public VectorIndex {
 public:
  HnswIndex(uint32_t dim, VectorMetric metric)
      : dim_(dim), metric_(metric), stored_dim_(metric == VectorMetric::kInnerProduct ? dim + 1 : dim) {
    if (metric == VectorMetric::kCosine)
      space_ = std::make_unique<hnswlib::InnerProductSpace>(stored_dim_);
    else
      space_ = std::make_unique<hnswlib::L2Space>(stored_dim_);
  }

  void Init(size_t capacity) {
    graph_ = std::make_unique<Graph>(space_.get(), capacity, kM, kEfConstruction);
    BackWithHugePages();
  }

  Status Upsert(const AssetId& id, std::span<const float> vector, VectorAttrs attrs) override {
    std::vector<Upsertion> one;
    one.push_back({id, vector, std::move(attrs)});
    return UpsertMany(std::move(one), nullptr);
  }

  // Three steps, all under change_mu_ so that no other change comes between:
  // the bookkeeping (labels, attributes, postings, room in the graph) with
  // mu_ exclusive; the graph insertions, spread over the pool, with mu_
  // shared (hnswlib locks each node it links, and searches walk meanwhile:
  // a node being linked is already labelled); the live-node table with mu_
  // exclusive again.
  Status UpsertMany(std::vector<Upsertion> items, ThreadPool* pool) override {
    for (const Upsertion& u : items)
      if (u.vector.size() != dim_)
        return err::InvalidArgument("DIMENSION_MISMATCH", "vector has " +
                                                              std::to_string(u.vector.size()) +
                                                              " values, the space " +
                                                              std::to_string(dim_));
    std::lock_guard change(change_mu_);
    std::vector<std::pair<size_t, std::vector<float>>> work;  // label, stored vector
    {
      std::unique_lock lock(mu_);
      if (metric_ == VectorMetric::kInnerProduct) {
        // The bound one-by-one upserts would end with, reached with one
        // rebuild instead of several: a batch builds the graph those
        // upserts would have built.
        float bound = max_norm_;
        for (const Upsertion& u : items) {
          const float norm = std::sqrt(Dot(u.vector, u.vector));
          if (norm > bound) bound = norm * kNormHeadroom;
        }
        if (bound > max_norm_) AIFS_RETURN_IF_ERROR(RebuildForNorm(bound));
      }
      std::unordered_map<size_t, size_t> slot;  // label -> its entry in work (the last upsert wins)
      size_t new_nodes = 0;
      for (Upsertion& u : items) {
        auto [it, fresh] = labels_.try_emplace(u.id, ids_.size());
        if (fresh) {
          ids_.push_back(u.id);
          attrs_.emplace_back();
          live_nodes_.push_back(kGone);
        }
        const size_t label = it->second;
        const VectorAttrs before = std::exchange(attrs_[label], std::move(u.attrs));
        Post(label, before);
        auto [at, first] = slot.try_emplace(label, work.size());
        if (first) {
          work.emplace_back(label, Stored(u.vector));
          new_nodes += graph_->label_lookup_.count(label) == 0;
        } else {
          work[at->second].second = Stored(u.vector);
        }
      }
      if (graph_->cur_element_count + new_nodes > graph_->max_elements_) {
        graph_->resizeIndex(std::max({kInitialCapacity, 2 * graph_->max_elements_,
                                      graph_->cur_element_count + new_nodes}));
        BackWithHugePages();
      }
    }
    std::vector<std::string> failed(work.size());
    {
      std::shared_lock lock(mu_);
      // Insertions made at once do not see each other: in a small graph
      // they would be a large share of it, and a small graph is quick to
      // build anyway. They go one by one until the graph holds
      // kParallelFrom nodes and 4x the batch (which also keeps small
      // indexes deterministic).
      if (graph_->cur_element_count < std::max(kParallelFrom, 4 * work.size())) pool = nullptr;
      ForEachSpread(pool, work.size(), [&](size_t i) {
        try {
          graph_->addPoint(work[i].second.data(), work[i].first);  // an existing label is updated and undeleted
        } catch (const std::exception& e) {
          failed[i] = e.what();
        }
      });
    }
    std::unique_lock lock(mu_);
    Status st;
    for (size_t i = 0; i < work.size(); ++i) {
      if (!failed[i].empty()) {
        if (st.ok()) st = err::Internal("INDEX_ERROR", "hnsw insert: " + failed[i]);
        continue;
      }
      const size_t label = work[i].first;
      if (live_nodes_[label] == kGone) ++live_;
      live_nodes_[label] = graph_->label_lookup_.at(label);
    }
    return st;
  }

  void Remove(const AssetId& id) override {
    std::lock_guard change(change_mu_);
    std::unique_lock lock(mu_);
    auto it = labels_.find(id);
    if (it == labels_.end() || live_nodes_[it->second] == kGone) return;
    graph_->markDelete(it->second);
    live_nodes_[it->second] = kGone;
    --live_;
  }

  size_t size() const override {
    std::shared_lock lock(mu_);
    return live_;
  }

  bool Contains(const AssetId& id) const override {
    std::shared_lock lock(mu_);
    auto it = labels_.find(id);
    return it != labels_.end() && live_nodes_[it->second] != kGone;
  }

  VectorSearchOutcome Search(std::span<const float> query, size_t k, size_t ef,
                             const VectorFilter& filter, size_t max_visits) const override {
    const std::vector<float> q = StoredQuery(query);
    std::shared_lock lock(mu_);
    VectorSearchOutcome out;
    if (live_ == 0 || k == 0 || graph_->cur_element_count == 0) return out;
    ef = std::max(ef, k);
    const InternalId entry = Descend(q.data());

    // Best-first over level 0: `frontier` holds nodes to expand, nearest
    // first; `best` the ef nearest admitted ones, farthest on top.
    using Item = std::pair<float, InternalId>;
    std::priority_queue<Item, std::vector<Item>, std::greater<>> frontier;
    std::priority_queue<Item> best;
    hnswlib::VisitedList* visited = graph_->visited_list_pool_->getFreeVisitedList();
    hnswlib::vl_type* const marks = visited->mass;
    const hnswlib::vl_type tag = visited->curV;
    // The deleted mark sits in another cache line than the vector: read it
    // only when there are deletions.
    const bool check = filter || graph_->num_deleted_ > 0;
    float bound = std::numeric_limits<float>::infinity();  // best's farthest once it holds ef
    auto visit = [&](InternalId node) __attribute__((always_inline)) {
      marks[node] = tag;
      const float d = Distance(q.data(), node);
      if (d >= bound) return;
      frontier.emplace(d, node);
      // The nearest candidate is likely the next one expanded: start
      // fetching its neighbour list now.
      PrefetchLinks(frontier.top().second);
      if (!check || Admits(node, filter)) {
        best.emplace(d, node);
        if (best.size() > ef) best.pop();
        if (best.size() == ef) bound = best.top().first;
      }
    };
    visit(entry);
    size_t visits = 1;
    while (!frontier.empty()) {
      const auto [d, node] = frontier.top();
      if (d > bound) break;
      frontier.pop();
      hnswlib::linklistsizeint* links = graph_->get_linklist0(node);
      const size_t n = graph_->getListCount(links);
      const auto* neighbours = reinterpret_cast<const InternalId*>(links + 1);
      // The walk is memory-bound: fetch the next neighbour's visited mark and
      // vector while this one is compared.
      if (n > 0) Prefetch(neighbours[0], marks);
      for (size_t i = 0; i < n; ++i) {
        if (i + 1 < n) Prefetch(neighbours[i + 1], marks);
        if (marks[neighbours[i]] == tag) continue;
        visit(neighbours[i]);
        ++visits;
      }
      if (visits > max_visits) {
        out.gave_up = true;
        break;
      }
    }
    graph_->visited_list_pool_->releaseVisitedList(visited);

    std::vector<Item> ordered;
    while (!best.empty()) {
      ordered.push_back(best.top());
      best.pop();
    }
    std::reverse(ordered.begin(), ordered.end());
    if (ordered.size() > k) ordered.resize(k);
    for (const auto& [dist, node] : ordered) out.hits.push_back(Hit(node, dist, q));
    if (metric_ == VectorMetric::kInnerProduct) SortByScore(out.hits);
    return out;
  }

  std::vector<ScoredId> Exact(std::span<const float> query, size_t k,
                              const VectorFilter& filter) const override {
    std::shared_lock lock(mu_);
    Ranking ranking(*this, query, k);
    for (size_t label = 0; label < ids_.size(); ++label) {
      if (label + kScanLookahead < ids_.size()) PrefetchData(live_nodes_[label + kScanLookahead]);
      const InternalId node = live_nodes_[label];
      if (node != kGone && (!filter || filter(ids_[label], attrs_[label]))) ranking.Offer(node);
    }
    return ranking.Hits();
  }

  size_t CountWith(const std::string& key, const std::vector<std::string>& values) const override {
    std::shared_lock lock(mu_);
    size_t n = 0;
    for (const std::string& v : values)
      if (auto it = postings_.find(PostingKey(key, v)); it != postings_.end()) n += it->second.members();
    return n;
  }

  std::vector<ScoredId> ExactWith(std::span<const float> query, size_t k, const std::string& key,
                                  const std::vector<std::string>& values,
                                  const VectorFilter& filter) const override {
    std::shared_lock lock(mu_);
    Ranking ranking(*this, query, k);
    // A label that left a posting and came back is in it twice: each node
    // is ranked once.
    hnswlib::VisitedList* visited = graph_->visited_list_pool_->getFreeVisitedList();
    hnswlib::vl_type* const marks = visited->mass;
    const hnswlib::vl_type tag = visited->curV;
    for (const std::string& v : values) {
      auto it = postings_.find(PostingKey(key, v));
      if (it == postings_.end()) continue;
      const Posting& posting = it->second;
      const std::vector<uint32_t>& labels = posting.labels;
      for (size_t i = 0; i < labels.size(); ++i) {
        if (i + kScanLookahead < labels.size()) PrefetchData(live_nodes_[labels[i + kScanLookahead]]);
        const uint32_t label = labels[i];
        const InternalId node = live_nodes_[label];
        if (node == kGone) continue;
        if (posting.stale > 0) {
          if (marks[node] == tag || !HasPair(attrs_[label], key, v)) continue;
          marks[node] = tag;
        }
        if (filter && !filter(ids_[label], attrs_[label])) continue;
        ranking.Offer(node);
      }
    }
    graph_->visited_list_pool_->releaseVisitedList(visited);
    return ranking.Hits();
  }

  Status Save(const std::string& dir, const RecordKey& key, ByteSpan context) const override {
    namespace fs = std::filesystem;
    std::lock_guard change(change_mu_);  // no insertion half done
    std::shared_lock lock(mu_);
    std::error_code ec;
    const std::string tmp = dir + ".tmp";
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp, ec);
    if (ec) return err::FromErrno(ec.value(), "create " + tmp);
    {
      // hnswlib writes to a path; give it one in memory, then seal that.
      MemFile plain;
      AIFS_RETURN_IF_ERROR(plain.Create());
      try {
        graph_->saveIndex(plain.path());
      } catch (const std::exception& e) {
        return err::Internal("INDEX_SAVE_FAILED", e.what());
      }
      AIFS_RETURN_IF_ERROR(
          WriteSealedFile(key, FileContext(context, "graph.hnsw"), plain.fd, tmp + "/graph.hnsw"));
    }
    std::string labels = EncodeLabels();
    Status sealed =
        WriteSealedFile(key, FileContext(context, "labels"), AsBytes(labels), tmp + "/labels");
    SecureWipe(labels.data(), labels.size());
    AIFS_RETURN_IF_ERROR(sealed);
    AIFS_RETURN_IF_ERROR(FsyncDir(tmp));
    // Swap in the new checkpoint: the old one stays whole until the rename.
    fs::remove_all(dir + ".old", ec);
    if (fs::exists(dir)) fs::rename(dir, dir + ".old", ec);
    fs::rename(tmp, dir, ec);
    if (ec) return err::FromErrno(ec.value(), "rename " + tmp);
    fs::remove_all(dir + ".old", ec);
    return Status::Ok();
  }

  Status LoadFrom(const std::string& dir, const RecordKey& key, ByteSpan context) {
    auto labels =
        ReadSealedFile(key, FileContext(context, "labels"), dir + "/labels", "INDEX_CORRUPT");
    if (!labels.ok()) return labels.status();
    MemFile plain;
    AIFS_RETURN_IF_ERROR(plain.Create());
    AIFS_RETURN_IF_ERROR(ReadSealedFile(key, FileContext(context, "graph.hnsw"),
                                        dir + "/graph.hnsw", plain.fd, "INDEX_CORRUPT"));
    try {
      graph_ = std::make_unique<Graph>(space_.get(), plain.path());
      BackWithHugePages();
    } catch (const std::exception& e) {
      return err::DataLoss("INDEX_CORRUPT", std::string("hnsw load: ") + e.what());
    }
    const bool parsed = DecodeLabels(*labels);
    SecureWipe(labels->data(), labels->size());
    if (!parsed)
      return err::DataLoss("INDEX_CORRUPT", "labels of " + dir + " do not parse or disagree with its graph");
    return Status::Ok();
  }

 private:
  // The vector as stored in the graph (normalised, or augmented).
  std::vector<float> Stored(std::span<const float> v) const {
    std::vector<float> out(v.begin(), v.end());
    if (metric_ == VectorMetric::kCosine) Normalise(out);
    if (metric_ == VectorMetric::kInnerProduct)
      out.push_back(std::sqrt(std::max(0.0f, max_norm_ * max_norm_ - Dot(v, v))));
    return out;
  }
  std::vector<float> StoredQuery(std::span<const float> q) const {
    std::vector<float> out(q.begin(), q.end());
    if (metric_ == VectorMetric::kCosine) Normalise(out);
    if (metric_ == VectorMetric::kInnerProduct) out.push_back(0.0f);
    return out;
  }

  // The exact k best of the labels offered, ranked by the graph's own
  // (SIMD) distance on the stored form, which orders exactly as the score
  // does; scores are computed for the winners only. Caller holds mu_.
  class Ranking {
   public:
    Ranking(const HnswIndex& index, std::span<const float> query, size_t k)
        : index_(index), stored_(index.StoredQuery(query)), k_(k) {}
    void Offer(InternalId node) {
      const float d = index_.Distance(stored_.data(), node);
      if (best_.size() < k_) {
        best_.emplace(d, node);
      } else if (d < best_.top().first) {
        best_.pop();
        best_.emplace(d, node);
      }
    }
    std::vector<ScoredId> Hits() {
      std::vector<ScoredId> hits;
      for (; !best_.empty(); best_.pop()) hits.push_back(index_.Hit(best_.top().second, best_.top().first, stored_));
      SortByScore(hits);
      return hits;
    }

   private:
    const HnswIndex& index_;
    std::vector<float> stored_;
    size_t k_;
    std::priority_queue<std::pair<float, InternalId>> best_;  // farthest on top
  };

  // The labels whose metadata has one (key, value) pair, removed ones
  // included (scans skip them). A label that loses the pair stays behind as
  // a stale entry until the posting is compacted.
  struct Posting {
    std::vector<uint32_t> labels;
    // Entries beyond one per member: labels that left, or came back. While
    // there are any, a scan checks each entry's label and skips repeats.
    size_t stale = 0;
    size_t members() const { return labels.size() - stale; }
  };
  static std::string PostingKey(std::string_view key, std::string_view value) {
    std::string out(key);
    out.push_back('\0');
    out.append(value);
    return out;
  }
  static bool HasPair(const VectorAttrs& attrs, std::string_view key, std::string_view value) {
    auto it = std::lower_bound(attrs.metadata.begin(), attrs.metadata.end(), key,
                               [](const auto& kv, std::string_view k) { return kv.first < k; });
    return it != attrs.metadata.end() && it->first == key && it->second == value;
  }
  // Brings the postings from `label`'s metadata `before` to its current one:
  // new pairs enter, pairs left behind count as stale, and a posting that is
  // half stale is compacted (amortised O(1) per change).
  void Post(size_t label, const VectorAttrs& before) {
    const VectorAttrs& after = attrs_[label];
    for (const auto& kv : after.metadata)
      if (!std::binary_search(before.metadata.begin(), before.metadata.end(), kv))
        postings_[PostingKey(kv.first, kv.second)].labels.push_back(static_cast<uint32_t>(label));
    for (const auto& [k, v] : before.metadata) {
      if (std::binary_search(after.metadata.begin(), after.metadata.end(), std::pair(k, v))) continue;
      auto it = postings_.find(PostingKey(k, v));
      if (it == postings_.end()) continue;
      Posting& posting = it->second;
      if (++posting.stale * 2 <= posting.labels.size()) continue;
      std::erase_if(posting.labels, [&](uint32_t l) { return !HasPair(attrs_[l], k, v); });
      std::sort(posting.labels.begin(), posting.labels.end());
      posting.labels.erase(std::unique(posting.labels.begin(), posting.labels.end()), posting.labels.end());
      posting.stale = 0;
      if (posting.labels.empty()) postings_.erase(it);
    }
  }

  // A new graph with norm bound `bound`, holding the live vectors only.
  // Caller holds mu_ exclusively.
  Status RebuildForNorm(float bound) {
    auto old = std::move(graph_);
    max_norm_ = bound;
    Init(std::max<size_t>(kInitialCapacity, old->max_elements_));
    live_ = 0;
    for (size_t label = 0; label < ids_.size(); ++label) {
      const InternalId old_node = std::exchange(live_nodes_[label], kGone);
      if (old_node == kGone) continue;
      const auto* data = reinterpret_cast<const float*>(old->getDataByInternalId(old_node));
      const std::vector<float> v = Stored(std::span<const float>(data, dim_));
      try {
        graph_->addPoint(v.data(), label);
      } catch (const std::exception& e) {
        return err::Internal("INDEX_ERROR", std::string("hnsw rebuild: ") + e.what());
      }
      live_nodes_[label] = graph_->label_lookup_.at(label);
      ++live_;
    }
    return Status::Ok();
  }

  // A search touches ~ef x 16 vectors at random over the whole level-0 array:
  // with 4 KiB pages nearly every one is also a TLB miss. 2 MiB pages for the
  // array: advised for the pages still to come, collapsed for those present.
  // Best effort (kernels without THP refuse, and 4 KiB pages still work).
  void BackWithHugePages() const {
    AdviseHugePages(graph_->data_level0_memory_, graph_->max_elements_ * graph_->size_data_per_element_);
  }

  // Greedy descent through the upper levels to the level-0 entry point.
  InternalId Descend(const float* q) const {
    InternalId node = graph_->enterpoint_node_;
    float best = Distance(q, node);
    for (int level = graph_->maxlevel_; level > 0; --level) {
      for (bool moved = true; moved;) {
        moved = false;
        hnswlib::linklistsizeint* links = graph_->get_linklist(node, level);
        const size_t n = graph_->getListCount(links);
        const auto* neighbours = reinterpret_cast<const InternalId*>(links + 1);
        for (size_t i = 0; i < n; ++i) {
          const float d = Distance(q, neighbours[i]);
          if (d < best) {
            best = d;
            node = neighbours[i];
            moved = true;
          }
        }
      }
    }
    return node;
  }

  // Always inlined: GCC 12 judges a function whose only effect is a
  // prefetch to have none and deletes calls to it that it did not inline.
  [[gnu::always_inline]] void Prefetch(InternalId node, const hnswlib::vl_type* marks) const {
    __builtin_prefetch(marks + node);
    __builtin_prefetch(graph_->getDataByInternalId(node));
  }
  // A level-0 list (count + 2M ids) spans three cache lines.
  [[gnu::always_inline]] void PrefetchData(InternalId node) const {
    if (node != kGone) __builtin_prefetch(graph_->getDataByInternalId(node));
  }
  [[gnu::always_inline]] void PrefetchLinks(InternalId node) const {
    const char* links = reinterpret_cast<const char*>(graph_->get_linklist0(node));
    for (size_t at = 0; at < graph_->size_links_level0_; at += 64) __builtin_prefetch(links + at);
  }
  float Distance(const float* q, InternalId node) const {
    return graph_->fstdistfunc_(q, graph_->getDataByInternalId(node), graph_->dist_func_param_);
  }
  bool Admits(InternalId node, const VectorFilter& filter) const {
    if (graph_->isMarkedDeleted(node)) return false;
    if (!filter) return true;
    const size_t label = graph_->getExternalLabel(node);
    return filter(ids_[label], attrs_[label]);
  }
  std::span<const float> Data(InternalId node) const {
    return {reinterpret_cast<const float*>(graph_->getDataByInternalId(node)), dim_};
  }
  // The score of `node`, `distance` from the query (whose StoredQuery form
  // is `stored`): the graph's L2 distance is the negated score and its
  // cosine distance 1 - score; the inner product is computed afresh, since
  // recovering it from the reduced L2 distance would cancel away its digits.
  ScoredId Hit(InternalId node, float distance, const std::vector<float>& stored) const {
    const size_t label = graph_->getExternalLabel(node);
    float score = 0;
    switch (metric_) {
      case VectorMetric::kL2:
        score = -distance;
        break;
      case VectorMetric::kCosine:
        score = 1.0f - distance;
        break;
      case VectorMetric::kInnerProduct:
        score = Dot(std::span(stored.data(), dim_), Data(node));
        break;
    }
    const VectorAttrs& attrs = attrs_[label];
    return {ids_[label], score, attrs.source, attrs.source ? attrs.SourceRange() : std::nullopt};
  }
  static void SortByScore(std::vector<ScoredId>& hits) {
    std::stable_sort(hits.begin(), hits.end(),
                     [](const ScoredId& a, const ScoredId& b) { return a.score > b.score; });
  }

  // Labels file: magic, the inner-product norm bound, then per label in
  // order: the AssetID, 'l' live or 'd' deleted, the source (flag + 32
  // bytes), the metadata (count + key/value strings).
  std::string EncodeLabels() const {
    std::string out(kLabelsMagic, sizeof(kLabelsMagic));
    out.append(reinterpret_cast<const char*>(&max_norm_), sizeof(max_norm_));
    for (size_t i = 0; i < ids_.size(); ++i) {
      out.append(reinterpret_cast<const char*>(ids_[i].bytes().data()), AssetId::kSize);
      out.push_back(live_nodes_[i] == kGone ? 'd' : 'l');
      const VectorAttrs& a = attrs_[i];
      out.push_back(a.source ? 1 : 0);
      if (a.source) out.append(reinterpret_cast<const char*>(a.source->bytes().data()), AssetId::kSize);
      PutU32(out, static_cast<uint32_t>(a.metadata.size()));
      for (const auto& [k, v] : a.metadata) {
        PutString(out, k);
        PutString(out, v);
      }
    }
    return out;
  }

  bool DecodeLabels(std::string_view data) {
    Reader r(data);
    std::string_view b;
    if (!r.Bytes(sizeof(kLabelsMagic), b) || b != std::string_view(kLabelsMagic, sizeof(kLabelsMagic)))
      return false;
    if (!r.Bytes(sizeof(max_norm_), b)) return false;
    std::memcpy(&max_norm_, b.data(), sizeof(max_norm_));
    while (!r.done()) {
      std::string_view id_bytes, state, has_source;
      if (!r.Bytes(AssetId::kSize, id_bytes) || !r.Bytes(1, state) || !r.Bytes(1, has_source))
        return false;
      auto id = AssetId::FromBytes(AsBytes(id_bytes));
      const size_t label = ids_.size();
      if (!id || !labels_.emplace(*id, label).second) return false;
      ids_.push_back(*id);
      live_nodes_.push_back(kGone);
      VectorAttrs& a = attrs_.emplace_back();
      if (has_source[0]) {
        std::string_view src;
        if (!r.Bytes(AssetId::kSize, src)) return false;
        a.source = AssetId::FromBytes(AsBytes(src));
      }
      uint32_t n;
      if (!r.U32(n) || n > data.size()) return false;
      a.metadata.resize(n);
      for (auto& [k, v] : a.metadata)
        if (!r.String(k) || !r.String(v)) return false;
      if (!std::is_sorted(a.metadata.begin(), a.metadata.end())) return false;
      Post(label, {});
      // A live vector is in the graph and not marked deleted there; a removed
      // one is marked, or missing (a norm rebuild drops them). Anything else
      // would bring back a ghost, or make a later removal throw.
      auto node = graph_->label_lookup_.find(label);
      const bool in_graph = node != graph_->label_lookup_.end();
      if (state[0] == 'l') {
        if (!in_graph || graph_->isMarkedDeleted(node->second)) return false;
        live_nodes_[label] = node->second;
        ++live_;
      } else if (state[0] != 'd' || (in_graph && !graph_->isMarkedDeleted(node->second))) {
        return false;
      }
    }
    // Every graph node must name a label (searches index ids_ with them).
    return std::all_of(graph_->label_lookup_.begin(), graph_->label_lookup_.end(),
                       [&](const auto& kv) { return kv.first < ids_.size(); });
  }

  const uint32_t dim_;
  const VectorMetric metric_;
  const uint32_t stored_dim_;
  std::unique_ptr<hnswlib::SpaceInterface<float>> space_;
  std::unique_ptr<Graph> graph_;
  mutable std::mutex change_mu_;  // changes (and checkpoints) take turns
  mutable std::shared_mutex mu_;
  std::unordered_map<AssetId, size_t, IdHash> labels_;
  // Per label, read at random by every search (huge pages: see huge_pages.h).
  HugePageVector<AssetId> ids_;        // label -> asset
  HugePageVector<VectorAttrs> attrs_;  // label -> attributes
  HugePageVector<InternalId> live_nodes_;  // label -> its graph node, or kGone
  std::unordered_map<std::string, Posting> postings_;  // "key\0value" -> labels
  size_t live_ = 0;
  float max_norm_ = 0;       // inner product: bound on the norms in the graph
};

}  // namespace

std::unique_ptr<VectorIndex> VectorIndex::Create(uint32_t dim, VectorMetric metric) {
  auto index = std::make_unique<HnswIndex>(dim, metric);
  index->Init(kInitialCapacity);
  return index;
}

Result<std::unique_ptr<VectorIndex>> VectorIndex::Load(const std::string& dir, uint32_t dim,
                                                       VectorMetric metric, const RecordKey& key,
                                                       ByteSpan context) {
  auto index = std::make_unique<HnswIndex>(dim, metric);
  AIFS_RETURN_IF_ERROR(index->LoadFrom(dir, key, context));
  return std::unique_ptr<VectorIndex>(std::move(index));
}

float Similarity(VectorMetric metric, std::span<const float> a, std::span<const float> b) {
  switch (metric) {
    case VectorMetric::kL2: {
      float s = 0;
      for (size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
      return -s;
    }
    case VectorMetric::kInnerProduct:
      return Dot(a, b);
    case VectorMetric::kCosine: {
      const float na = std::sqrt(Dot(a, a)), nb = std::sqrt(Dot(b, b));
      return na > 0 && nb > 0 ? Dot(a, b) / (na * nb) : 0.0f;
    }
  }
  return 0;
}

}  // namespace aifs
