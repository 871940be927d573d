// The one translation unit that includes hnswlib (Debian libhnswlib-dev,
// header-only).
#include "aifs/vector/vector_index.h"

#include <hnswlib/hnswlib.h>

#include <cmath>
#include <cstring>
#include <queue>
#include <unordered_set>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "aifs/core/file_util.h"

namespace aifs {

namespace {

constexpr size_t kM = 16;
constexpr size_t kEfConstruction = 200;
constexpr size_t kInitialCapacity = 1024;

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

class HnswIndex final : public VectorIndex {
 public:
  HnswIndex(uint32_t dim, VectorMetric metric) : dim_(dim), metric_(metric) {
    if (metric == VectorMetric::kL2)
      space_ = std::make_unique<hnswlib::L2Space>(dim);
    else
      space_ = std::make_unique<hnswlib::InnerProductSpace>(dim);
  }

  void Init(size_t capacity) {
    graph_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), capacity, kM,
                                                                kEfConstruction);
  }

  Status Upsert(const AssetId& id, std::span<const float> vector) override {
    if (vector.size() != dim_)
      return err::InvalidArgument("DIMENSION_MISMATCH", "vector has " +
                                                            std::to_string(vector.size()) +
                                                            " values, the space " +
                                                            std::to_string(dim_));
    std::vector<float> v(vector.begin(), vector.end());
    NormaliseFor(metric_, v);
    std::unique_lock lock(mu_);
    auto [it, fresh] = labels_.try_emplace(id, ids_.size());
    if (fresh) ids_.push_back(id);
    const size_t label = it->second;
    if (graph_->cur_element_count >= graph_->max_elements_ && fresh)
      graph_->resizeIndex(std::max<size_t>(kInitialCapacity, 2 * graph_->max_elements_));
    try {
      graph_->addPoint(v.data(), label);  // an existing label is updated and undeleted
    } catch (const std::exception& e) {
      return err::Internal("INDEX_ERROR", std::string("hnsw insert: ") + e.what());
    }
    if (removed_.erase(label) || fresh) ++live_;
    return Status::Ok();
  }

  void Remove(const AssetId& id) override {
    std::unique_lock lock(mu_);
    auto it = labels_.find(id);
    if (it == labels_.end() || removed_.count(it->second)) return;
    graph_->markDelete(it->second);
    removed_.insert(it->second);
    --live_;
  }

  size_t size() const override {
    std::shared_lock lock(mu_);
    return live_;
  }

  std::vector<ScoredId> Search(std::span<const float> query, size_t k, size_t ef,
                               const std::function<bool(const AssetId&)>& keep) const override {
    std::vector<float> q(query.begin(), query.end());
    NormaliseFor(metric_, q);
    std::shared_lock lock(mu_);
    std::vector<ScoredId> out;
    if (live_ == 0 || k == 0) return out;
    // hnswlib keeps one ef per index; searches set theirs under the lock's
    // shared mode, so take it exclusively only to change it.
    const size_t want = std::min(k, live_);
    std::priority_queue<std::pair<float, hnswlib::labeltype>> found;
    {
      std::lock_guard ef_lock(ef_mu_);
      graph_->setEf(std::max(ef, want));
      found = graph_->searchKnn(q.data(), want);
    }
    std::vector<std::pair<float, hnswlib::labeltype>> ordered;
    while (!found.empty()) {
      ordered.push_back(found.top());
      found.pop();
    }
    for (auto it = ordered.rbegin(); it != ordered.rend(); ++it) {
      const AssetId& id = ids_[it->second];
      if (keep && !keep(id)) continue;
      out.push_back({id, ScoreOf(it->first)});
    }
    return out;
  }

  Status Save(const std::string& dir) const override {
    namespace fs = std::filesystem;
    std::shared_lock lock(mu_);
    std::error_code ec;
    const std::string tmp = dir + ".tmp";
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp, ec);
    if (ec) return err::FromErrno(ec.value(), "create " + tmp);
    try {
      graph_->saveIndex(tmp + "/graph.hnsw");
    } catch (const std::exception& e) {
      return err::Internal("INDEX_SAVE_FAILED", e.what());
    }
    std::string labels;
    labels.reserve(ids_.size() * 33);
    for (size_t i = 0; i < ids_.size(); ++i) {
      labels.append(reinterpret_cast<const char*>(ids_[i].bytes().data()), AssetId::kSize);
      labels.push_back(removed_.count(i) ? 'd' : 'l');
    }
    AIFS_RETURN_IF_ERROR(WriteFileAtomic(tmp + "/labels", labels, 0600));
    // Swap in the new checkpoint: the old one stays whole until the rename.
    fs::remove_all(dir + ".old", ec);
    if (fs::exists(dir)) fs::rename(dir, dir + ".old", ec);
    fs::rename(tmp, dir, ec);
    if (ec) return err::FromErrno(ec.value(), "rename " + tmp);
    fs::remove_all(dir + ".old", ec);
    return Status::Ok();
  }

  Status LoadFrom(const std::string& dir) {
    auto labels = ReadFileToString(dir + "/labels");
    if (!labels.ok()) return labels.status();
    if (labels->size() % (AssetId::kSize + 1) != 0)
      return err::DataLoss("INDEX_CORRUPT", "label file of " + dir + " is truncated");
    try {
      graph_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(),
                                                                  dir + "/graph.hnsw");
    } catch (const std::exception& e) {
      return err::DataLoss("INDEX_CORRUPT", std::string("hnsw load: ") + e.what());
    }
    const size_t n = labels->size() / (AssetId::kSize + 1);
    if (graph_->cur_element_count != n)
      return err::DataLoss("INDEX_CORRUPT", "graph and labels of " + dir + " disagree");
    for (size_t i = 0; i < n; ++i) {
      const char* rec = labels->data() + i * (AssetId::kSize + 1);
      auto id = AssetId::FromBytes(AsBytes(std::string_view(rec, AssetId::kSize)));
      if (!id || !labels_.emplace(*id, i).second)
        return err::DataLoss("INDEX_CORRUPT", "bad label in " + dir);
      ids_.push_back(*id);
      if (rec[AssetId::kSize] == 'd')
        removed_.insert(i);
      else
        ++live_;
    }
    return Status::Ok();
  }

 private:
  float ScoreOf(float distance) const {
    // hnswlib: L2 is the squared distance, inner product is 1 - dot.
    return metric_ == VectorMetric::kL2 ? -distance : 1.0f - distance;
  }

  const uint32_t dim_;
  const VectorMetric metric_;
  std::unique_ptr<hnswlib::SpaceInterface<float>> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph_;
  mutable std::shared_mutex mu_;
  mutable std::mutex ef_mu_;
  std::unordered_map<AssetId, size_t, IdHash> labels_;
  std::vector<AssetId> ids_;  // label -> asset
  std::unordered_set<size_t> removed_;
  size_t live_ = 0;
};

}  // namespace

std::unique_ptr<VectorIndex> VectorIndex::Create(uint32_t dim, VectorMetric metric) {
  auto index = std::make_unique<HnswIndex>(dim, metric);
  index->Init(kInitialCapacity);
  return index;
}

Result<std::unique_ptr<VectorIndex>> VectorIndex::Load(const std::string& dir, uint32_t dim,
                                                       VectorMetric metric) {
  auto index = std::make_unique<HnswIndex>(dim, metric);
  AIFS_RETURN_IF_ERROR(index->LoadFrom(dir));
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

void NormaliseFor(VectorMetric metric, std::vector<float>& v) {
  if (metric != VectorMetric::kCosine) return;
  const float n = std::sqrt(Dot(v, v));
  if (n > 0)
    for (float& x : v) x /= n;
}

}  // namespace aifs
