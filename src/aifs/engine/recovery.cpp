// RecoverStore: salvage damaged metadata, then make what is left consistent
// again from the asset records, which are the truth every count derives from.
#include "aifs/engine/recovery.h"

#include <filesystem>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "aifs/core/clock.h"
#include "aifs/core/file_util.h"
#include "aifs/engine/chunk_index.h"
#include "aifs/engine/chunk_objects.h"
#include "aifs/engine/engine.h"
#include "aifs/engine/namespace_record.h"
#include "aifs/engine/store_config.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"
#include "aifs/meta/rocksdb/rocksdb_meta_store.h"
#include "aifs/storage/chunk_sealer.h"

namespace aifs {

namespace fs = std::filesystem;
using store::v1::AssetRecord;
using store::v1::ChunkRecord;
using store::v1::NamespaceRecord;

namespace {

constexpr std::string_view kRocks = "rocksdb://";

// The namespace of a chunk record's key; empty when it is not one.
std::string NsOfChunk(std::string_view key) {
  std::string ns;
  Digest hash;
  return keys::ParseChunk(key, ns, hash) ? ns : std::string();
}

struct NsTotals {
  uint64_t asset_count = 0, logical_bytes = 0, chunk_count = 0, stored_bytes = 0, unique_bytes = 0;
  uint64_t retired_count = 0, retired_bytes = 0;
};

template <typename Record>
Status ScanRecords(MetaStore& meta, std::string_view prefix,
                   const std::function<Status(std::string_view key, Record&)>& fn) {
  Status inner;
  AIFS_RETURN_IF_ERROR(
      meta.Scan(prefix, PrefixEnd(prefix), [&](std::string_view key, std::string_view value) {
        Record rec;
        inner = ParseRecord(value, rec, std::string(key));
        if (inner.ok()) inner = fn(key, rec);
        return inner.ok();
      }));
  return inner;
}

// The consistency pass. `engine` is null in a dry run over a scratch copy:
// then it only counts.
class Repair {
 public:
  Repair(StoreContext& ctx, Engine* engine, bool dry_run, std::string stamp, RecoverReport& report)
      : ctx_(ctx), engine_(engine), dry_run_(dry_run), stamp_(std::move(stamp)), r_(report) {}

  Status Run() {
    AIFS_RETURN_IF_ERROR(ScanAssets());
    AIFS_RETURN_IF_ERROR(ctx_.chunks->List([&](const std::string& name, uint64_t size) {
      objects_.emplace(name, size);
      return true;
    }));
    AIFS_RETURN_IF_ERROR(ScanChunks());
    AIFS_RETURN_IF_ERROR(FindLostAssets());
    AIFS_RETURN_IF_ERROR(FixChildCounts());
    AIFS_RETURN_IF_ERROR(EnsureNamespaces());
    AIFS_RETURN_IF_ERROR(Rebuild());
    AIFS_RETURN_IF_ERROR(KeepOrphanObjects());
    return FixNamespaceTotals();
  }

 private:
  Status Write(const std::function<Status(MetaTxn&)>& body) {
    if (dry_run_) return Status::Ok();
    return RunTransaction(*ctx_.meta, body);
  }

  // Live assets (as/) and removed ones kept for snapshots (ra/) both hold
  // chunk references; only live ones count as children of their parents.
  Status ScanAssets() {
    for (const char* prefix : {"as/", "ra/"}) {
      const bool live = std::string_view(prefix) == "as/";
      AIFS_RETURN_IF_ERROR(ScanRecords<AssetRecord>(
          *ctx_.meta, prefix, [&](std::string_view, AssetRecord& rec) -> Status {
            ++r_.assets;
            AIFS_ASSIGN_OR_RETURN(ChunkIndex index, LoadChunkIndex(GetterOf(*ctx_.meta), rec));
            std::set<Digest> distinct;
            for (size_t i = 0; i < index.size(); ++i) distinct.insert(index.at(i).hash);
            std::vector<std::string> chunk_keys;
            for (const Digest& h : distinct) {
              const std::string key = keys::Chunk(rec.ns(), h);
              ++expected_refs_[key];
              chunk_keys.push_back(key);
            }
            if (live)
              for (const auto& edge : rec.parents())
                ++child_counts_[keys::ChildCount(rec.ns(), FixedBytes<32>(edge.parent()))];
            namespaces_.insert(rec.ns());
            assets_.push_back({rec.ns(), HexEncode(AsBytes(rec.id())), std::move(chunk_keys)});
            return Status::Ok();
          }));
    }
    return Status::Ok();
  }

  Status ScanChunks() {
    std::vector<std::pair<std::string, uint64_t>> fixes;
    AIFS_RETURN_IF_ERROR(ScanRecords<ChunkRecord>(
        *ctx_.meta, keys::kChunkPrefixAll, [&](std::string_view key, ChunkRecord& rec) -> Status {
          ++r_.chunk_records;
          chunk_objects_[std::string(key)] = rec.object();
          referenced_objects_.insert(rec.object());
          auto it = expected_refs_.find(std::string(key));
          const uint64_t expected = it == expected_refs_.end() ? 0 : it->second;
          if (expected == 0) unreferenced_.emplace_back(key);
          if (rec.refcount() != expected) fixes.emplace_back(key, expected);
          return Status::Ok();
        }));
    for (const auto& [key, refs] : fixes) {
      ++r_.refcounts_fixed;
      AIFS_RETURN_IF_ERROR(Write([&, key = key, refs = refs](MetaTxn& txn) -> Status {
        AIFS_ASSIGN_OR_RETURN(auto rec, LoadRecord<ChunkRecord>(txn, key, "chunk"));
        if (!rec) return Status::Ok();
        rec->set_refcount(refs);
        return PutRecord(txn, key, *rec);
      }));
    }
    return Status::Ok();
  }

  Status FindLostAssets() {
    for (const LiveAsset& a : assets_) {
      for (const std::string& key : a.chunk_keys) {
        auto rec = chunk_objects_.find(key);
        std::string why;
        if (rec == chunk_objects_.end())
          why = "the record of chunk " + key.substr(key.rfind('/') + 1) + " is lost";
        else if (!objects_.count(rec->second))
          why = "chunk object " + rec->second + " is missing";
        if (why.empty()) continue;
        r_.lost_assets.push_back(a.ns + "/" + a.id + ": " + why);
        break;
      }
    }
    return Status::Ok();
  }

  Status FixChildCounts() {
    std::map<std::string, uint64_t> stored;
    AIFS_RETURN_IF_ERROR(
        ctx_.meta->Scan("lk/", PrefixEnd("lk/"), [&](std::string_view key, std::string_view value) {
          stored[std::string(key)] = std::strtoull(std::string(value).c_str(), nullptr, 10);
          return true;
        }));
    std::map<std::string, uint64_t> want(child_counts_.begin(), child_counts_.end());
    std::set<std::string> all;
    for (const auto& [k, v] : stored) all.insert(k);
    for (const auto& [k, v] : want) all.insert(k);
    for (const std::string& key : all) {
      const uint64_t have = stored.count(key) ? stored[key] : 0;
      const uint64_t should = want.count(key) ? want[key] : 0;
      if (have == should) continue;
      ++r_.child_counts_fixed;
      AIFS_RETURN_IF_ERROR(Write([&](MetaTxn& txn) {
        return should == 0 ? txn.Delete(key) : txn.Put(key, std::to_string(should));
      }));
    }
    return Status::Ok();
  }

  // Assets (or chunks) of a namespace whose record was lost get it back, with
  // a new signing key: snapshots signed by the old one no longer verify.
  Status EnsureNamespaces() {
    for (const std::string& key : unreferenced_)
      if (std::string ns = NsOfChunk(key); !ns.empty()) namespaces_.insert(ns);
    for (const std::string& ns : namespaces_) {
      AIFS_ASSIGN_OR_RETURN(auto rec, ctx_.meta->Get(keys::Namespace(ns)));
      if (rec) continue;
      r_.lost_assets.push_back("namespace " + ns +
                               ": its record was lost; re-created with a new signing key");
      if (engine_ && !dry_run_) AIFS_RETURN_IF_ERROR(engine_->CreateNamespace(ns, {}).status());
    }
    return Status::Ok();
  }

  // A chunk record no asset references is what is left of an asset whose
  // record was lost: its bytes become an asset of their own (same BLAKE3, so
  // a one-chunk asset comes back under its own ID).
  Status Rebuild() {
    for (const std::string& key : unreferenced_) {
      std::string ns;
      Digest hash;
      const bool parsed = keys::ParseChunk(key, ns, hash);
      AIFS_ASSIGN_OR_RETURN(ChunkRecord rec,
                            LoadRecord<ChunkRecord>(*ctx_.meta, key, "CHUNK_NOT_FOUND", key));
      Bytes object, plain;
      Status st = parsed ? ReadSealedChunk(ctx_, ns, hash, rec, object)
                         : err::DataLoss("METADATA_CORRUPT", "not a chunk record key");
      if (st.ok()) st = OpenChunk(*ctx_.kms, ns, hash, rec, object, plain);
      if (!st.ok()) {
        r_.lost_assets.push_back(ns + "/chunk " + key.substr(key.rfind('/') + 1) +
                                 ": unreferenced and unreadable: " + st.ToString());
        continue;
      }
      const std::string id = HexEncode(Blake3::Hash(plain));
      r_.rebuilt.push_back(ns + "/" + id);
      ++r_.assets_rebuilt;
      if (dry_run_ || !engine_) continue;
      PutOptions put;
      put.ns = ns;
      put.metadata["recovered"] = stamp_;
      AIFS_ASSIGN_OR_RETURN(auto writer, engine_->BeginPut(put));
      AIFS_RETURN_IF_ERROR(writer->Write(plain));
      AIFS_RETURN_IF_ERROR(writer->Commit().status());
      // Re-chunked differently: the old record is now unused (gc reclaims its object).
      AIFS_RETURN_IF_ERROR(Write([&](MetaTxn& txn) -> Status {
        AIFS_ASSIGN_OR_RETURN(auto now, LoadRecord<ChunkRecord>(txn, key, "chunk"));
        if (now && now->refcount() == 0) return txn.Delete(key);
        return Status::Ok();
      }));
      referenced_objects_.insert(rec.object());  // not an orphan for this pass
    }
    return Status::Ok();
  }

  // Objects no record names can no longer be decrypted here (their keys were
  // in the lost records), but a backup's records may still open them: they
  // move out of the chunk store, where gc would delete them.
  Status KeepOrphanObjects() {
    std::string dir;
    for (const auto& [name, size] : objects_) {
      if (referenced_objects_.count(name) || name.find('.') != std::string::npos) continue;
      ++r_.orphan_objects;
      r_.orphan_bytes += size;
      if (dry_run_) continue;
      if (dir.empty()) {
        dir = ctx_.data_dir + "/lost+found/" + stamp_;
        AIFS_RETURN_IF_ERROR(MakeDirs(dir, 0700));
        r_.lost_found = dir;
      }
      Bytes data;
      AIFS_RETURN_IF_ERROR(ctx_.chunks->Get(name, data));
      AIFS_RETURN_IF_ERROR(WriteFileAtomic(dir + "/" + name, AsChars(data), 0600));
      AIFS_RETURN_IF_ERROR(ctx_.chunks->Delete(name));
    }
    return Status::Ok();
  }

  Status FixNamespaceTotals() {
    std::unordered_map<std::string, NsTotals> totals;
    // Live assets (as/), and removed ones kept for snapshots (ra/).
    for (const bool live : {true, false}) {
      AIFS_RETURN_IF_ERROR(ScanRecords<AssetRecord>(
          *ctx_.meta, live ? "as/" : "ra/", [&](std::string_view, AssetRecord& rec) {
            auto& t = totals[rec.ns()];
            ++(live ? t.asset_count : t.retired_count);
            (live ? t.logical_bytes : t.retired_bytes) += rec.size();
            return Status::Ok();
          }));
    }
    AIFS_RETURN_IF_ERROR(ScanRecords<ChunkRecord>(*ctx_.meta, keys::kChunkPrefixAll,
                                                  [&](std::string_view key, ChunkRecord& rec) {
                                                    auto& t = totals[NsOfChunk(key)];
                                                    ++t.chunk_count;
                                                    t.stored_bytes += rec.stored_size();
                                                    t.unique_bytes += rec.plain_size();
                                                    return Status::Ok();
                                                  }));
    std::vector<std::string> names;
    AIFS_RETURN_IF_ERROR(ScanRecords<NamespaceRecord>(
        *ctx_.meta, keys::kNamespacePrefix, [&](std::string_view, NamespaceRecord& rec) {
          const NsTotals& t = totals[rec.name()];
          if (rec.asset_count() != t.asset_count || rec.logical_bytes() != t.logical_bytes ||
              rec.chunk_count() != t.chunk_count || rec.stored_bytes() != t.stored_bytes ||
              rec.unique_bytes() != t.unique_bytes || rec.retired_count() != t.retired_count ||
              rec.retired_bytes() != t.retired_bytes)
            names.push_back(rec.name());
          return Status::Ok();
        }));
    for (const std::string& ns : names) {
      ++r_.namespaces_fixed;
      const NsTotals& t = totals[ns];
      AIFS_RETURN_IF_ERROR(Write([&](MetaTxn& txn) -> Status {
        AIFS_ASSIGN_OR_RETURN(auto rec,
                              LoadRecord<NamespaceRecord>(txn, keys::Namespace(ns), "namespace"));
        if (!rec) return Status::Ok();
        rec->set_asset_count(t.asset_count);
        rec->set_logical_bytes(t.logical_bytes);
        rec->set_chunk_count(t.chunk_count);
        rec->set_stored_bytes(t.stored_bytes);
        rec->set_unique_bytes(t.unique_bytes);
        rec->set_retired_count(t.retired_count);
        rec->set_retired_bytes(t.retired_bytes);
        return PutNamespaceRecord(txn, *rec);
      }));
    }
    return Status::Ok();
  }

  struct LiveAsset {
    std::string ns, id;
    std::vector<std::string> chunk_keys;
  };

  StoreContext& ctx_;
  Engine* engine_;
  const bool dry_run_;
  const std::string stamp_;
  RecoverReport& r_;
  std::unordered_map<std::string, uint64_t> expected_refs_;  // chunk key -> assets
  std::unordered_map<std::string, uint64_t> child_counts_;   // lk key -> live children
  std::set<std::string> namespaces_;
  std::vector<LiveAsset> assets_;
  std::unordered_map<std::string, uint64_t> objects_;           // object -> size
  std::unordered_map<std::string, std::string> chunk_objects_;  // chunk key -> object
  std::unordered_set<std::string> referenced_objects_;
  std::vector<std::string> unreferenced_;  // chunk keys no asset references
};

Status Rename(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) return err::FromErrno(ec.value(), "rename " + from + " to " + to);
  return Status::Ok();
}

}  // namespace

Result<RecoverReport> RecoverStore(const RecoverOptions& options) {
  AIFS_ASSIGN_OR_RETURN(auto config, LoadStoreConfig(options.data_dir));
  const std::string meta_url = ResolveStoreUrl(config.meta_url(), options.data_dir);
  if (!meta_url.starts_with(kRocks))
    return err::Unimplemented("NOT_SUPPORTED", "recover works on a RocksDB metadata store");
  const std::string meta_dir = meta_url.substr(kRocks.size());
  const std::string stamp = std::to_string(NowUnixNanos() / 1000000000);
  RecoverReport report;
  report.dry_run = options.dry_run;

  {
    auto probe = OpenMetaStore(meta_url, {});
    if (!probe.ok() && probe.status().reason() != "METADATA_CORRUPT") return probe.status();
    if (!probe.ok()) {
      report.damaged = true;
      report.damage = probe.status().message();
    }
  }
  if (!report.damaged) {
    AIFS_ASSIGN_OR_RETURN(
        auto engine, Engine::Open({.data_dir = options.data_dir, .read_only = options.dry_run}));
    AIFS_ASSIGN_OR_RETURN(MetadataCheck check, engine->CheckMetadata());
    report.sequence = check.sequence;
    AIFS_RETURN_IF_ERROR(
        Repair(engine->store(), engine.get(), options.dry_run, stamp, report).Run());
    return report;
  }

  // Salvage a copy: the damaged files stay untouched until it has worked.
  const std::string copy = meta_dir + ".salvage-" + stamp;
  std::error_code ec;
  fs::remove_all(copy, ec);
  AIFS_RETURN_IF_ERROR(CopyTree(meta_dir, copy));
  {
    AIFS_ASSIGN_OR_RETURN(auto salvaged,
                          OpenMetaStore(std::string(kRocks) + copy, {.salvage = true}));
    report.skipped = salvaged->SalvageNotes();
    AIFS_ASSIGN_OR_RETURN(MetaIntegrity m, salvaged->CheckIntegrity(/*read_all=*/true));
    report.sequence = m.sequence;
    if (options.dry_run) {
      // Count what the repair would do, on the scratch copy.
      StoreContext ctx;
      ctx.data_dir = options.data_dir;
      ctx.config = config;
      ctx.meta = std::move(salvaged);
      AIFS_ASSIGN_OR_RETURN(ctx.kms,
                            OpenKms(ResolveStoreUrl(config.kms_url(), options.data_dir), false));
      AIFS_ASSIGN_OR_RETURN(
          ctx.chunks, OpenChunkStore(ResolveStoreUrl(config.chunk_url(), options.data_dir), false));
      Status st = Repair(ctx, nullptr, true, stamp, report).Run();
      ctx.meta.reset();
      fs::remove_all(copy, ec);
      fs::remove(RocksDbMetaStore::HighWaterPath(copy), ec);
      AIFS_RETURN_IF_ERROR(st);
      return report;
    }
  }
  report.saved_copy = meta_dir + ".damaged-" + stamp;
  AIFS_RETURN_IF_ERROR(Rename(meta_dir, report.saved_copy));
  if (fs::exists(RocksDbMetaStore::HighWaterPath(meta_dir), ec))
    AIFS_RETURN_IF_ERROR(Rename(RocksDbMetaStore::HighWaterPath(meta_dir),
                                RocksDbMetaStore::HighWaterPath(report.saved_copy)));
  AIFS_RETURN_IF_ERROR(Rename(copy, meta_dir));
  AIFS_RETURN_IF_ERROR(
      Rename(RocksDbMetaStore::HighWaterPath(copy), RocksDbMetaStore::HighWaterPath(meta_dir)));
  AIFS_RETURN_IF_ERROR(FsyncDir(fs::path(meta_dir).parent_path().string()));

  AIFS_ASSIGN_OR_RETURN(auto engine, Engine::Open({.data_dir = options.data_dir}));
  AIFS_RETURN_IF_ERROR(Repair(engine->store(), engine.get(), false, stamp, report).Run());
  return report;
}

}  // namespace aifs
