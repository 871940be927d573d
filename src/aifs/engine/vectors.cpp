#include "aifs/engine/vectors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <optional>
#include <queue>
#include <set>

#include "aifs/core/clock.h"
#include "aifs/core/file_util.h"
#include "aifs/engine/asset_reader.h"
#include "aifs/engine/events.h"
#include "aifs/engine/namespace_record.h"
#include "aifs/engine/publish.h"
#include "aifs/engine/reclaim.h"
#include "aifs/engine/records_view.h"
#include "aifs/kinds/embed.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"
#include "aifs/storage/sealed_file.h"

namespace aifs {

namespace {

// Upserts for one index, applied together (VectorIndex::UpsertMany: the
// graph insertions on the pool's threads).
class VectorBatch {
 public:
  static constexpr size_t kMax = 1024;
  void Add(const AssetId& id, std::vector<float> v, VectorAttrs attrs) {
    vectors_.push_back(std::move(v));
    items_.push_back({id, vectors_.back(), std::move(attrs)});
  }
  size_t size() const { return items_.size(); }
  Status Flush(VectorIndex& index, ThreadPool* pool) {
    if (items_.empty()) return Status::Ok();
    Status st = index.UpsertMany(std::move(items_), pool);
    items_.clear();
    vectors_.clear();
    return st;
  }

 private:
  std::deque<std::vector<float>> vectors_;  // the items' spans point here
  std::vector<VectorIndex::Upsertion> items_;
};

using store::v1::SpaceRecord;

constexpr uint32_t kMaxDim = 65536;
constexpr float kMaxNorm = 1e6f;
constexpr size_t kMaxK = 10000;
constexpr size_t kDefaultEf = 64;
// Inner product runs on the MIPS-to-L2 reduction (vector_index.cpp), whose
// graph is harder to walk: on clustered data recall@10 is 0.94 at ef 64 and
// 1.0 at ef 128-200.
constexpr size_t kDefaultEfIp = 200;
constexpr uint64_t kCheckpointEvery = 50000;  // log entries applied
// A close saves the indexes when one changed, or when this many log entries
// (none touching an index) would otherwise be replayed by every later open.
// A process that changed no index then writes nothing at close.
constexpr uint64_t kReplayWorthSaving = 10000;
// A filter's postings up to this size (or 5% of the space) are searched
// exactly instead of walking the graph.
constexpr size_t kExactCandidates = 4096;

// The distinct values an equality or one-of filter accepts.
std::vector<std::string> ValuesOf(const MetaFilter& f) {
  if (f.op != MetaFilter::Op::kIn) return {f.value};
  std::vector<std::string> values = f.values;
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

EmbeddingSpace FromRecord(const SpaceRecord& r) {
  return {r.name(), r.dim(), static_cast<VectorMetric>(r.metric()), 0};
}

Status ValidateSpaceName(const std::string& name) {
  if (name.empty() || name.size() > 128 ||
      !std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
               c == ':' || c == '@';
      }))
    return err::InvalidArgument("BAD_SPACE_NAME",
                                "space names are 1-128 of [A-Za-z0-9._:@-], got '" + name + "'");
  return Status::Ok();
}

// The vector an Embed asset offers the space named after its model: none
// when it holds several, names another model or dimension, or its bytes do
// not read or decode (corruption, which VerifyAsset reports).
std::optional<std::vector<float>> OfferedVector(StoreContext& ctx, const store::v1::AssetRecord& rec,
                                                const EmbeddingSpace& space) {
  if (rec.size() > kEmbedMaxBytes) return std::nullopt;
  Bytes buf;
  buf.reserve(rec.size());
  const Status read = ReadAssetRange(ctx, rec, ReadRange{}, [&](ByteSpan b) {
    buf.insert(buf.end(), b.begin(), b.end());
    return Status::Ok();
  });
  if (!read.ok()) return std::nullopt;
  Result<EmbedRecord> embed = DecodeEmbed(buf);
  if (!embed.ok() || embed->vectors.size() != 1 || embed->model != space.name) return std::nullopt;
  if (!CheckVector("", embed->vectors.front(), space.dim, space.metric).ok()) return std::nullopt;
  return std::move(embed->vectors.front());
}

// Embed assets put before their space existed: each gets the vector its put
// would have written had the space been there (held when the namespace
// quarantines embeddings, else indexed through an index_updated event), in
// commits of up to 1,000. An asset deleted meanwhile, or whose vector is
// written already (a put racing with this), is left alone.
Status AdoptEmbedAssets(StoreContext& ctx, const std::string& ns, const EmbeddingSpace& space) {
  std::vector<AssetId> embeds;
  Status bad;
  const std::string prefix = keys::AssetPrefix(ns);
  AIFS_RETURN_IF_ERROR(ctx.meta->Scan(prefix, PrefixEnd(prefix), [&](std::string_view,
                                                                     std::string_view v) {
    store::v1::AssetRecord rec;
    bad = ParseRecord(v, rec, "asset");
    if (!bad.ok() || rec.kind() != static_cast<store::v1::AssetKind>(AssetKind::kEmbed)) return bad.ok();
    auto id = AssetId::FromBytes(AsBytes(rec.id()));
    if (!id) bad = err::DataLoss("METADATA_CORRUPT", "an asset record without a valid ID");
    if (id) embeds.push_back(*id);
    return bad.ok();
  }));
  AIFS_RETURN_IF_ERROR(bad);
  constexpr size_t kBatch = 1000;
  for (size_t begin = 0; begin < embeds.size(); begin += kBatch) {
    std::vector<std::pair<AssetId, std::vector<float>>> offered;
    for (size_t i = begin; i < std::min(embeds.size(), begin + kBatch); ++i) {
      AIFS_ASSIGN_OR_RETURN(auto bytes, ctx.meta->Get(keys::Asset(ns, embeds[i].bytes())));
      if (!bytes) continue;  // deleted since the scan
      store::v1::AssetRecord rec;
      AIFS_RETURN_IF_ERROR(ParseRecord(*bytes, rec, "asset"));
      if (auto v = OfferedVector(ctx, rec, space)) offered.emplace_back(embeds[i], std::move(*v));
    }
    AIFS_RETURN_IF_ERROR(RunTransaction(*ctx.meta, [&](MetaTxn& txn) -> Status {
      AIFS_ASSIGN_OR_RETURN(auto ns_rec, LoadRecord<store::v1::NamespaceRecord>(
                                             txn, keys::Namespace(ns), "namespace"));
      if (!ns_rec) return NamespaceNotFound(ns);
      bool added = false;
      AIFS_ASSIGN_OR_RETURN(const RecordKey key, ctx.record_keys->Of(*ns_rec, &added));
      if (added) AIFS_RETURN_IF_ERROR(PutNamespaceRecord(txn, *ns_rec));
      const bool hold = ns_rec->policy().quarantine_embeddings();
      for (const auto& [id, values] : offered) {
        AIFS_ASSIGN_OR_RETURN(auto asset, txn.Get(keys::Asset(ns, id.bytes())));
        AIFS_ASSIGN_OR_RETURN(auto held, txn.Get(keys::PendingVector(ns, space.name, id.bytes())));
        AIFS_ASSIGN_OR_RETURN(auto indexed, txn.Get(keys::Vector(ns, space.name, id.bytes())));
        if (!asset || held || indexed) continue;
        AIFS_ASSIGN_OR_RETURN(std::string sealed, SealVector(key, ns, space.name, id, values));
        AIFS_RETURN_IF_ERROR(txn.Put(hold ? keys::PendingVector(ns, space.name, id.bytes())
                                          : keys::Vector(ns, space.name, id.bytes()),
                                     sealed));
        if (!hold) EmitEvent(txn, {.type = EventType::kIndexUpdated, .ns = ns, .asset = id});
      }
      return Status::Ok();
    }));
  }
  return Status::Ok();
}

}  // namespace

Status CheckVector(const std::string& what, std::span<const float> v, uint32_t dim,
                   VectorMetric metric) {
  if (v.size() != dim)
    return err::InvalidArgument("DIMENSION_MISMATCH", what + " has " + std::to_string(v.size()) +
                                                          " values; the space has dimension " +
                                                          std::to_string(dim));
  double norm2 = 0;
  for (float x : v) {
    if (!std::isfinite(x))
      return err::InvalidArgument("BAD_VECTOR", what + " holds NaN or infinite values");
    norm2 += double(x) * x;
  }
  const double norm = std::sqrt(norm2);
  if (norm > kMaxNorm)
    return err::InvalidArgument("BAD_VECTOR", what + " has an absurd norm (" +
                                                  std::to_string(norm) + ")");
  if (metric == VectorMetric::kCosine && norm == 0)
    return err::InvalidArgument("BAD_VECTOR", what + " is all zeros (no direction for cosine)");
  return Status::Ok();
}

VectorManager::VectorManager(StoreContext& ctx) : ctx_(ctx), dir_(ctx.data_dir + "/index") {}

VectorManager::~VectorManager() {
  stop_ = true;
  ctx_.meta->InterruptLogWaits();  // the follower need not wait out its poll
  if (follower_.joinable()) follower_.join();
  if (!ctx_.meta->read_only() &&
      (changed_since_checkpoint_ > 0 || replayed_since_checkpoint_ >= kReplayWorthSaving))
    (void)Checkpoint();
}

Status VectorManager::Start() {
  Status loaded = LoadCheckpoint();
  if (!loaded.ok()) {
    AIFS_RETURN_IF_ERROR(RebuildFromRecords());
    changed_since_checkpoint_ = 1;  // nothing usable on disk yet
  }
  return ReplayAndFollow();
}

Status VectorManager::ReplayAndFollow() {
  AIFS_ASSIGN_OR_RETURN(uint64_t upto, ctx_.meta->ScanLog(applied_, [&](uint64_t seq,
                                                                         std::string_view e) {
    (void)Apply(seq, e);
    ++replayed_since_checkpoint_;
    return true;
  }));
  (void)FlushUpserts();
  applied_ = upto;
  if (!follower_.joinable()) follower_ = std::thread([this] { Follow(); });
  return Status::Ok();
}

Status VectorManager::LoadCheckpoint() {
  auto state = ReadFileToString(dir_ + "/state");
  if (!state.ok()) return state.status();
  char* end = nullptr;
  const uint64_t seq = std::strtoull(state->c_str(), &end, 10);
  if (end == state->c_str()) return err::DataLoss("INDEX_CORRUPT", "bad index state file");
  std::map<Key, Index> loaded;
  std::vector<std::string> namespaces;
  AIFS_RETURN_IF_ERROR(ctx_.meta->Scan("sp/", PrefixEnd("sp/"), [&](std::string_view key,
                                                                    std::string_view value) {
    SpaceRecord r;
    if (!r.ParseFromArray(value.data(), static_cast<int>(value.size()))) return true;
    const std::string ns(key.substr(3, key.find('/', 3) - 3));
    loaded[{ns, r.name()}].space = FromRecord(r);
    return true;
  }));
  for (auto& [key, idx] : loaded) {
    // Sealed with the namespace's record key; an older plaintext checkpoint
    // (or one of a namespace without a key) does not load and is rebuilt.
    const std::string dir = dir_ + "/" + key.first + "/" + key.second;
    auto tag = SealedFileTag(dir + "/labels");
    if (!tag) return err::DataLoss("INDEX_CORRUPT", dir + " is not a sealed checkpoint");
    AIFS_ASSIGN_OR_RETURN(RecordKey rk, ctx_.record_keys->ForRead(key.first, *tag));
    AIFS_ASSIGN_OR_RETURN(idx.index, VectorIndex::Load(dir, idx.space.dim, idx.space.metric, rk,
                                                       IndexFileContext(key.first, key.second)));
    SecureWipe(rk.key.data(), rk.key.size());
  }
  AIFS_RETURN_IF_ERROR(MarkRetired(loaded));
  std::unique_lock lock(mu_);
  indexes_ = std::move(loaded);
  applied_ = seq;
  return Status::Ok();
}

Status VectorManager::RebuildFromRecords() {
  // Position first: commits after it are replayed, and re-applying one the
  // scan already saw is harmless (upserts and removals are idempotent).
  const uint64_t from = ctx_.meta->LogWatermark();
  std::map<Key, Index> built;
  AIFS_RETURN_IF_ERROR(ctx_.meta->Scan("sp/", PrefixEnd("sp/"), [&](std::string_view key,
                                                                    std::string_view value) {
    SpaceRecord r;
    if (!r.ParseFromArray(value.data(), static_cast<int>(value.size()))) return true;
    const std::string ns(key.substr(3, key.find('/', 3) - 3));
    Index& idx = built[{ns, r.name()}];
    idx.space = FromRecord(r);
    idx.index = VectorIndex::Create(idx.space.dim, idx.space.metric);
    return true;
  }));
  for (auto& [key, idx] : built) {
    const std::string prefix = keys::VectorPrefix(key.first, key.second);
    VectorBatch batch;
    Status bad;
    AIFS_RETURN_IF_ERROR(ctx_.meta->Scan(prefix, PrefixEnd(prefix), [&](std::string_view k,
                                                                        std::string_view v) {
      auto id = AssetId::Parse(k.substr(prefix.size()));
      if (!id.ok()) return true;
      auto vec = OpenVector(*ctx_.record_keys, key.first, key.second, *id, v, idx.space.dim);
      // A damaged vector is VerifyAsset's business; a key that does not
      // unwrap fails the rebuild (never an index silently missing them all).
      if (!vec.ok() && vec.status().reason() == "VECTOR_CORRUPT") return true;
      if (!vec.ok()) {
        bad = vec.status();
        return false;
      }
      auto attrs = AttrsOf(key.first, *id);
      if (!attrs.ok()) {
        bad = attrs.status();
        return false;
      }
      batch.Add(*id, std::move(*vec), std::move(*attrs));
      if (batch.size() == VectorBatch::kMax) bad = batch.Flush(*idx.index, ctx_.pool.get());
      return bad.ok();
    }));
    AIFS_RETURN_IF_ERROR(bad);
    AIFS_RETURN_IF_ERROR(batch.Flush(*idx.index, ctx_.pool.get()));
  }
  AIFS_RETURN_IF_ERROR(MarkRetired(built));
  std::unique_lock lock(mu_);
  indexes_ = std::move(built);
  applied_ = from;
  return Status::Ok();
}

Status VectorManager::MarkRetired(std::map<Key, Index>& indexes) {
  std::set<std::string> namespaces;
  for (const auto& [key, idx] : indexes) namespaces.insert(key.first);
  for (const std::string& ns : namespaces) {
    const std::string prefix = keys::RetiredPrefix(ns);
    AIFS_RETURN_IF_ERROR(
        ctx_.meta->Scan(prefix, PrefixEnd(prefix), [&](std::string_view k, std::string_view) {
          auto id = AssetId::Parse(k.substr(prefix.size()));
          if (!id.ok()) return true;
          for (auto& [key, idx] : indexes)
            if (key.first == ns && idx.index->Contains(*id)) idx.retired.insert(id->bytes());
          return true;
        }));
  }
  return Status::Ok();
}

Status VectorManager::Rebuild() {
  // The follower pauses, so nothing it applies can fall between the scan
  // and the swap; the log replay then brings the new indexes up to date.
  stop_ = true;
  if (follower_.joinable()) follower_.join();
  stop_ = false;
  Status st = RebuildFromRecords();
  if (st.ok()) st = ReplayAndFollow();
  if (st.ok()) st = Checkpoint();
  if (!follower_.joinable()) follower_ = std::thread([this] { Follow(); });
  return st;
}

Status VectorManager::Checkpoint() {
  std::shared_lock lock(mu_);
  const uint64_t seq = applied_;
  for (const auto& [key, idx] : indexes_) {
    AIFS_ASSIGN_OR_RETURN(RecordKey rk, ctx_.record_keys->ForWrite(key.first));
    Status saved = idx.index->Save(dir_ + "/" + key.first + "/" + key.second, rk,
                                   IndexFileContext(key.first, key.second));
    SecureWipe(rk.key.data(), rk.key.size());
    AIFS_RETURN_IF_ERROR(saved);
  }
  // The position is written last: a crash before it replays from the older one.
  AIFS_RETURN_IF_ERROR(MakeDirs(dir_, 0700));
  AIFS_RETURN_IF_ERROR(WriteFileAtomic(dir_ + "/state", std::to_string(seq), 0600));
  changed_since_checkpoint_ = 0;
  replayed_since_checkpoint_ = 0;
  return Status::Ok();
}

void VectorManager::Follow() {
  while (!stop_) {
    if (!ctx_.meta->WaitForLog(applied_, std::chrono::milliseconds(50))) continue;
    auto upto = ctx_.meta->ScanLog(applied_, [&](uint64_t seq, std::string_view e) {
      (void)Apply(seq, e);
      ++replayed_since_checkpoint_;
      return true;
    });
    (void)FlushUpserts();
    if (upto.ok()) applied_ = *upto;
    caught_up_.notify_all();
    if (replayed_since_checkpoint_ >= kCheckpointEvery && !ctx_.meta->read_only())
      (void)Checkpoint();
  }
}

Status VectorManager::Apply(uint64_t seq, std::string_view entry) {
  AIFS_ASSIGN_OR_RETURN(Event e, DecodeEvent(seq, entry));
  const bool upsert = e.type == EventType::kAssetCommitted || e.type == EventType::kIndexUpdated;
  // A run of upserts is applied together; anything else after it, in order.
  if (!upsert || pending_.size() >= VectorBatch::kMax) AIFS_RETURN_IF_ERROR(FlushUpserts());
  switch (e.type) {
    case EventType::kAssetCommitted:
    case EventType::kIndexUpdated:
      if (!e.asset) return Status::Ok();
      {
        std::unique_lock lock(mu_);  // live (again): visible at head
        for (auto& [key, idx] : indexes_)
          if (key.first == e.ns) changed_since_checkpoint_ += idx.retired.erase(e.asset->bytes());
      }
      pending_.emplace_back(e.ns, *e.asset);
      return Status::Ok();
    case EventType::kAssetDeleted:
    case EventType::kAssetReleased: {
      if (!e.asset) return Status::Ok();
      // Removed from the head: kept (hidden at head) while its record waits
      // in ra/ for the snapshots that hold it; gone once released (or when
      // it is no longer retired by the time this replays: a release or a
      // put that took it back follows in the log).
      bool kept = false;
      if (e.type == EventType::kAssetDeleted) {
        AIFS_ASSIGN_OR_RETURN(auto retired, ctx_.meta->Get(keys::Retired(e.ns, e.asset->bytes())));
        kept = retired.has_value();
      }
      std::unique_lock lock(mu_);
      for (auto& [key, idx] : indexes_) {
        if (key.first != e.ns) continue;
        ++changed_since_checkpoint_;
        if (kept && idx.index->Contains(*e.asset)) {
          idx.retired.insert(e.asset->bytes());
          continue;
        }
        idx.retired.erase(e.asset->bytes());
        idx.index->Remove(*e.asset);
      }
      return Status::Ok();
    }
    case EventType::kSpaceCreated: {
      AIFS_ASSIGN_OR_RETURN(auto bytes, ctx_.meta->Get(keys::Space(e.ns, e.name)));
      if (!bytes) return Status::Ok();  // its namespace went since
      SpaceRecord rec;
      AIFS_RETURN_IF_ERROR(ParseRecord(*bytes, rec, "space"));
      AddIndex(e.ns, FromRecord(rec));
      return Status::Ok();
    }
    case EventType::kNamespaceDeleted: {
      std::unique_lock lock(mu_);
      changed_since_checkpoint_ +=
          std::erase_if(indexes_, [&](const auto& kv) { return kv.first.first == e.ns; });
      return Status::Ok();
    }
    default:
      return Status::Ok();
  }
}

Result<VectorAttrs> VectorManager::AttrsOf(const std::string& ns, const AssetId& id) {
  VectorAttrs attrs;
  // Live or kept for a snapshot (searches as of it filter on its metadata).
  auto loaded = LoadAssetAnyState(ctx_, ns, id);
  if (!loaded.ok() && loaded.status().code() == Code::kNotFound)
    return attrs;  // released since; its removal follows in the log
  AIFS_RETURN_IF_ERROR(loaded.status());
  const store::v1::AssetRecord& rec = *loaded;
  attrs.metadata.assign(rec.metadata().begin(), rec.metadata().end());
  std::sort(attrs.metadata.begin(), attrs.metadata.end());
  if (!rec.embed_source().empty()) attrs.source = AssetId::FromBytes(AsBytes(rec.embed_source()));
  return attrs;
}

Status VectorManager::FlushUpserts() {
  // The indexes read each asset's current vectors and metadata, so an asset
  // named twice in a run is upserted once. The log's order is kept: graph
  // labels follow it, and a graph built in another order walks differently
  // (inserted in ID order instead of as committed, the growing-norms test's
  // recall fell from 0.97 to 0.945).
  std::map<std::string, std::vector<AssetId>> by_ns;
  std::set<std::pair<std::string, AssetId>> seen;
  for (auto& entry : pending_)
    if (seen.insert(entry).second) by_ns[entry.first].push_back(entry.second);
  pending_.clear();
  Status first;
  for (const auto& [ns, ids] : by_ns) {
    Status st = Reindex(ns, ids);
    if (first.ok()) first = st;
  }
  return first;
}

Status VectorManager::Reindex(const std::string& ns, const std::vector<AssetId>& ids) {
  std::map<AssetId, VectorAttrs> attrs;  // read once per asset, whatever its spaces
  Status first;
  std::shared_lock lock(mu_);
  for (auto& [key, idx] : indexes_) {
    if (key.first != ns) continue;
    VectorBatch batch;
    for (const AssetId& id : ids) {
      auto bytes = ctx_.meta->Get(keys::Vector(ns, key.second, id.bytes()));
      if (!bytes.ok() || !bytes->has_value()) continue;
      auto vec = OpenVector(*ctx_.record_keys, ns, key.second, id, **bytes, idx.space.dim);
      if (!vec.ok()) continue;
      auto known = attrs.find(id);
      if (known == attrs.end()) {
        auto a = AttrsOf(ns, id);
        if (!a.ok()) {  // this asset waits for the next change or rebuild; the others go on
          if (first.ok()) first = a.status();
          continue;
        }
        known = attrs.emplace(id, std::move(*a)).first;
      }
      batch.Add(id, std::move(*vec), known->second);
    }
    changed_since_checkpoint_ += batch.size();
    Status st = batch.Flush(*idx.index, ctx_.pool.get());
    if (first.ok()) first = st;
  }
  return first;
}

void VectorManager::CatchUp() {
  const uint64_t target = ctx_.meta->LogWatermark();
  std::unique_lock lock(caught_up_mu_);
  caught_up_.wait_for(lock, std::chrono::seconds(2), [&] { return applied_ >= target; });
}

void VectorManager::AddIndex(const std::string& ns, const EmbeddingSpace& space) {
  std::unique_lock lock(mu_);
  Index& idx = indexes_[{ns, space.name}];
  if (idx.index) return;
  idx.space = space;
  idx.index = VectorIndex::Create(space.dim, space.metric);
  ++changed_since_checkpoint_;
}

VectorManager::Index* VectorManager::Find(const std::string& ns, const std::string& space) {
  auto it = indexes_.find({ns, space});
  return it == indexes_.end() ? nullptr : &it->second;
}

Result<EmbeddingSpace> VectorManager::CreateSpace(const std::string& ns,
                                                  const EmbeddingSpace& space) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  AIFS_RETURN_IF_ERROR(ValidateSpaceName(space.name));
  if (space.dim == 0 || space.dim > kMaxDim)
    return err::InvalidArgument("BAD_DIMENSION", "dimension must be 1-" + std::to_string(kMaxDim));
  if (MetricName(space.metric) == "unknown")
    return err::InvalidArgument("UNKNOWN_METRIC", "unknown metric");
  SpaceRecord rec;
  rec.set_name(space.name);
  rec.set_dim(space.dim);
  rec.set_metric(static_cast<int>(space.metric));
  rec.set_created_unix_ns(NowUnixNanos());
  AIFS_RETURN_IF_ERROR(RunTransaction(*ctx_.meta, [&](MetaTxn& txn) -> Status {
    AIFS_ASSIGN_OR_RETURN(auto ns_rec, txn.Get(keys::Namespace(ns)));
    if (!ns_rec) return NamespaceNotFound(ns);
    AIFS_ASSIGN_OR_RETURN(auto existing, txn.Get(keys::Space(ns, space.name)));
    if (existing)
      return err::AlreadyExists("SPACE_EXISTS", "space '" + space.name + "' already exists in '" +
                                                    ns + "'");
    // Every server's indexer makes the space's index from this entry.
    EmitEvent(txn, {.type = EventType::kSpaceCreated, .ns = ns, .name = space.name});
    return PutRecord(txn, keys::Space(ns, space.name), rec);
  }));
  AddIndex(ns, FromRecord(rec));
  AIFS_RETURN_IF_ERROR(AdoptEmbedAssets(ctx_, ns, FromRecord(rec)));
  // Counted once the indexer has applied the adopted vectors.
  AIFS_ASSIGN_OR_RETURN(auto spaces, ListSpaces(ns));
  for (EmbeddingSpace& s : spaces)
    if (s.name == space.name) return s;
  return FromRecord(rec);
}

Status VectorManager::RequireNamespace(const std::string& ns) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  AIFS_ASSIGN_OR_RETURN(auto rec, ctx_.meta->Get(keys::Namespace(ns)));
  return rec ? Status::Ok() : NamespaceNotFound(ns);
}

Result<std::vector<EmbeddingSpace>> VectorManager::ListSpaces(const std::string& ns) {
  AIFS_RETURN_IF_ERROR(RequireNamespace(ns));
  CatchUp();
  std::vector<EmbeddingSpace> out;
  std::shared_lock lock(mu_);
  for (const auto& [key, idx] : indexes_) {
    if (key.first != ns) continue;
    EmbeddingSpace s = idx.space;
    s.vectors = idx.index->size() - std::min(idx.index->size(), idx.retired.size());
    out.push_back(s);
  }
  lock.unlock();
  for (EmbeddingSpace& s : out) {
    const std::string prefix = keys::PendingVectorPrefix(ns, s.name);
    AIFS_RETURN_IF_ERROR(ctx_.meta->Scan(prefix, PrefixEnd(prefix), [&](auto, auto) {
      ++s.pending;
      return true;
    }));
  }
  return out;
}

Status VectorManager::Validate(const std::string& ns, const std::vector<Embedding>& embeddings) {
  std::set<std::string> seen;
  for (const Embedding& e : embeddings) {
    if (!seen.insert(e.space).second)
      return err::InvalidArgument("DUPLICATE_SPACE", "two embeddings for space '" + e.space + "'");
    AIFS_ASSIGN_OR_RETURN(auto bytes, ctx_.meta->Get(keys::Space(ns, e.space)));
    if (!bytes)
      return err::NotFound("SPACE_NOT_FOUND",
                           "no embedding space '" + e.space + "' in namespace '" + ns + "'");
    SpaceRecord r;
    AIFS_RETURN_IF_ERROR(ParseRecord(*bytes, r, "space"));
    AIFS_RETURN_IF_ERROR(CheckVector("embedding for '" + e.space + "'", e.values, r.dim(),
                                     static_cast<VectorMetric>(r.metric())));
  }
  return Status::Ok();
}

Result<std::vector<float>> VectorManager::StoredVector(const std::string& ns,
                                                       const std::string& space,
                                                       const AssetId& id) {
  AIFS_ASSIGN_OR_RETURN(auto bytes, ctx_.meta->Get(keys::Vector(ns, space, id.bytes())));
  if (!bytes)
    return err::NotFound("VECTOR_NOT_FOUND",
                         "asset " + id.ToHex() + " has no vector in space '" + space + "'");
  std::shared_lock lock(mu_);
  Index* idx = Find(ns, space);
  if (!idx) return err::NotFound("SPACE_NOT_FOUND", "no embedding space '" + space + "'");
  return OpenVector(*ctx_.record_keys, ns, space, id, *bytes, idx->space.dim);
}

Result<VectorResult> VectorManager::Search(const VectorQuery& q, const AssetSet* members) {
  if (q.k == 0 || q.k > kMaxK)
    return err::InvalidArgument("BAD_K", "k must be 1-" + std::to_string(kMaxK));
  if (q.like.has_value() == !q.vector.empty())
    return err::InvalidArgument("BAD_QUERY", "give either a query vector or an asset (like)");
  CatchUp();
  std::optional<EmbeddingSpace> space;
  {
    std::shared_lock lock(mu_);
    // Caught up, the spaces in memory are those of live namespaces (a
    // namespace's deletion drops them): only a miss needs the store.
    Index* idx = Find(q.ns, q.space);
    if (idx) space = idx->space;
  }
  if (!space) {
    AIFS_RETURN_IF_ERROR(RequireNamespace(q.ns));
    return err::NotFound("SPACE_NOT_FOUND",
                         "no embedding space '" + q.space + "' in namespace '" + q.ns + "'");
  }
  std::span<const float> query = q.vector;
  std::vector<float> liked;
  if (q.like) {
    AIFS_ASSIGN_OR_RETURN(liked, StoredVector(q.ns, q.space, *q.like));
    query = liked;
  }
  AIFS_RETURN_IF_ERROR(CheckVector("query vector", query, space->dim, space->metric));

  // Eligibility, checked in memory for every candidate: the snapshot's
  // members, the metadata filters (but `settled`, which the candidates are
  // known to pass), and a "like" query's asset is not its own neighbour.
  // Head searches skip the vectors of removed assets kept for snapshots.
  const AssetSet* hidden = nullptr;
  auto eligibility = [&](const MetaFilter* settled) -> VectorFilter {
    const bool filters = std::any_of(q.filters.begin(), q.filters.end(),
                                     [&](const MetaFilter& f) { return &f != settled; });
    if (!filters && !q.like && !members && !hidden) return {};
    return [&q, members, hidden, settled](const AssetId& id, const VectorAttrs& attrs) {
      if (q.like && id == *q.like) return false;
      if (members && !members->count(id.bytes())) return false;
      if (hidden && hidden->count(id.bytes())) return false;
      return std::all_of(q.filters.begin(), q.filters.end(), [&](const MetaFilter& f) {
        if (&f == settled) return true;
        auto it = std::lower_bound(attrs.metadata.begin(), attrs.metadata.end(), f.key,
                                   [](const auto& kv, const std::string& k) { return kv.first < k; });
        const bool found = it != attrs.metadata.end() && it->first == f.key;
        return MatchesFilter(f, found ? &it->second : nullptr);
      });
    };
  };
  const size_t default_ef = space->metric == VectorMetric::kInnerProduct ? kDefaultEfIp : kDefaultEf;
  const size_t ef = q.ef ? q.ef : std::max(default_ef, q.k);
  std::shared_lock lock(mu_);
  Index* idx = Find(q.ns, q.space);
  if (!idx) return err::NotFound("SPACE_NOT_FOUND", "the space went away");
  if (!members && !idx->retired.empty()) hidden = &idx->retired;
  const size_t live = idx->index->size();
  VectorResult result;
  result.space = q.space;
  std::vector<ScoredId> hits;
  // Planner. An equality or one-of filter on few vectors: the exact k best
  // among them, straight from the metadata postings (the other conditions
  // are still checked on each); a SIMD distance per candidate beats a walk
  // through ~ef/selectivity vectors of the graph.
  const MetaFilter* narrowest = nullptr;
  size_t narrowest_count = SIZE_MAX;
  for (const MetaFilter& f : q.filters) {
    if (f.op != MetaFilter::Op::kEquals && f.op != MetaFilter::Op::kIn) continue;
    const size_t n = idx->index->CountWith(f.key, ValuesOf(f));
    if (n < narrowest_count) {
      narrowest = &f;
      narrowest_count = n;
    }
  }
  if (narrowest && narrowest_count <= std::max<size_t>(kExactCandidates, live / 20)) {
    hits = idx->index->ExactWith(query, q.k, narrowest->key, ValuesOf(*narrowest), eligibility(narrowest));
    result.plan = "exact over " + std::to_string(narrowest_count) + " vectors with " +
                  narrowest->key;
  } else {
    // Otherwise the graph walk, which widens itself while the filter rejects
    // what it meets; when the filter rejects so much that the walk would
    // cover a large part of the graph anyway (or cannot fill k), an exact
    // scan of the vectors in memory is cheaper and always right.
    const VectorFilter filter = eligibility(nullptr);
    const size_t max_visits = filter ? std::max<size_t>(live / 4, 16 * ef) : SIZE_MAX;
    VectorSearchOutcome walk = idx->index->Search(query, q.k, ef, filter, max_visits);
    if (!walk.gave_up && (walk.hits.size() >= q.k || !filter)) {
      hits = std::move(walk.hits);
      result.plan = "hnsw ef=" + std::to_string(std::max(ef, q.k)) + (filter ? " filtered" : "");
    } else {
      hits = idx->index->Exact(query, q.k, filter);
      result.plan = "exact scan of " + std::to_string(live) + " vectors";
    }
  }
  for (ScoredId& h : hits) result.hits.push_back({h.id, h.score, h.source, h.source_range});
  return result;
}

Result<std::vector<PendingEmbedding>> VectorManager::ListPending(const std::string& ns,
                                                                 const std::string& space,
                                                                 size_t limit) {
  AIFS_RETURN_IF_ERROR(RequireNamespace(ns));
  if (limit == 0) limit = kMaxK;
  const std::string prefix = space.empty() ? "vq/" + ns + "/" : keys::PendingVectorPrefix(ns, space);
  std::vector<PendingEmbedding> out;
  Status bad;
  AIFS_RETURN_IF_ERROR(ctx_.meta->Scan(prefix, PrefixEnd(prefix), [&](std::string_view k,
                                                                      std::string_view) {
    // vq/<ns>/<space>/<asset hex>
    const std::string_view rest = k.substr(3 + ns.size() + 1);
    const size_t slash = rest.rfind('/');
    auto id = AssetId::Parse(rest.substr(slash + 1));
    if (slash == std::string_view::npos || !id.ok()) {
      bad = err::DataLoss("METADATA_CORRUPT", "bad quarantine key");
      return false;
    }
    out.push_back({*id, std::string(rest.substr(0, slash))});
    return out.size() < limit;
  }));
  AIFS_RETURN_IF_ERROR(bad);
  return out;
}

Result<uint64_t> VectorManager::Review(const EmbeddingReview& review) {
  AIFS_ASSIGN_OR_RETURN(auto pending, ListPending(review.ns, review.space, SIZE_MAX));
  if (!review.ids.empty()) {
    const std::set<AssetId> wanted(review.ids.begin(), review.ids.end());
    for (const AssetId& id : wanted)
      if (std::none_of(pending.begin(), pending.end(),
                       [&](const PendingEmbedding& p) { return p.id == id; }))
        return err::NotFound("NOT_PENDING",
                             "asset " + id.ToHex() + " has no vector in quarantine");
    std::erase_if(pending, [&](const PendingEmbedding& p) { return !wanted.count(p.id); });
  }
  // In batches, each one commit: approved vectors move to vc/ and the
  // index_updated event makes the indexer pick them up.
  constexpr size_t kBatch = 1000;
  uint64_t reviewed = 0;
  for (size_t begin = 0; begin < pending.size(); begin += kBatch) {
    const size_t end = std::min(pending.size(), begin + kBatch);
    uint64_t done = 0;
    AIFS_RETURN_IF_ERROR(RunTransaction(*ctx_.meta, [&](MetaTxn& txn) -> Status {
      done = 0;
      for (size_t i = begin; i < end; ++i) {
        const PendingEmbedding& p = pending[i];
        const std::string from = keys::PendingVector(review.ns, p.space, p.id.bytes());
        AIFS_ASSIGN_OR_RETURN(auto vec, txn.Get(from));
        if (!vec) continue;  // reviewed meanwhile, or its asset deleted
        AIFS_RETURN_IF_ERROR(txn.Delete(from));
        if (review.approve) {
          AIFS_RETURN_IF_ERROR(txn.Put(keys::Vector(review.ns, p.space, p.id.bytes()), *vec));
          EmitEvent(txn, {.type = EventType::kIndexUpdated, .ns = review.ns, .asset = p.id});
        }
        ++done;
      }
      return Status::Ok();
    }));
    reviewed += done;
  }
  return reviewed;
}

}  // namespace aifs
