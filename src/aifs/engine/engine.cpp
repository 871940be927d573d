#include "aifs/engine/engine.h"

#include <google/protobuf/util/json_util.h>
#include <malloc.h>
#include <sys/stat.h>

#include <set>
#include <thread>
#include <unordered_set>

#include "aifs/core/clock.h"
#include "aifs/core/file_util.h"
#include "aifs/core/random.h"
#include "aifs/engine/aggregate.h"
#include "aifs/engine/asset_reader.h"
#include "aifs/engine/asset_writer.h"
#include "aifs/engine/chunk_index.h"
#include "aifs/engine/events.h"
#include "aifs/engine/merge.h"
#include "aifs/engine/namespace_record.h"
#include "aifs/engine/publish.h"
#include "aifs/engine/reclaim.h"
#include "aifs/engine/records_view.h"
#include "aifs/engine/repack.h"
#include "aifs/engine/store_config.h"
#include "aifs/engine/transaction.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"
#include "aifs/snapshot/snapshot_format.h"
#include "aifs/storage/signing.h"

namespace aifs {

using store::v1::AssetRecord;
using store::v1::ChunkRecord;
using store::v1::NamespaceRecord;
using store::v1::StoreConfig;

namespace {

constexpr const char* kDefaultNamespace = "default";
// Threads that store chunk objects (StoreContext::io_pool): they mostly wait
// on the disk, so more than the cores. 458 objects of 1.1 MiB written with
// O_DIRECT and fdatasync: 0.81 s from 2 threads, 0.70 s from 8 or 16.
constexpr size_t kIoThreads = 8;

Status CreateNamespaceTxn(MetaStore& meta, Kms& kms, RecordKeys& record_keys,
                          const std::string& name, const Metadata& labels, NamespaceRecord& out) {
  AIFS_ASSIGN_OR_RETURN(SigningKey key, SigningKey::Generate());
  AIFS_ASSIGN_OR_RETURN(WrappedKey wrapped, key.Wrap(kms, NamespaceKeyContext(name)));
  return RunTransaction(meta, [&](MetaTxn& txn) -> Status {
    AIFS_ASSIGN_OR_RETURN(auto existing,
                          LoadRecord<NamespaceRecord>(txn, keys::Namespace(name), "namespace"));
    if (existing)
      return err::AlreadyExists("NAMESPACE_EXISTS", "namespace '" + name + "' already exists");
    out.Clear();
    out.set_name(name);
    out.set_created_unix_ns(NowUnixNanos());
    out.mutable_labels()->insert(labels.begin(), labels.end());
    out.set_signing_public_key(key.public_key().data(), key.public_key().size());
    out.set_signing_seed_wrapped(wrapped.blob.data(), wrapped.blob.size());
    out.set_signing_kms_key_id(wrapped.key_id);
    AIFS_RETURN_IF_ERROR(record_keys.AddTo(out));
    EmitEvent(txn, {.type = EventType::kNamespaceCreated, .unix_ns = out.created_unix_ns(),
                    .ns = name});
    return PutNamespaceRecord(txn, out);
  });
}

bool MatchesFilters(const AssetRecord& rec, const ListOptions& opt) {
  if (opt.kind && static_cast<AssetKind>(rec.kind()) != *opt.kind) return false;
  return MatchesMetadata(rec, opt.filters);
}

// The settings every server of a store shares live in the metadata store
// (keys::kSharedStoreConfig). The first init writes them from `config`; a
// later one (another server joining) takes them into `config`.
Status AgreeOnSharedConfig(MetaStore& meta, const InitOptions& options, StoreConfig& config) {
  return RunTransaction(meta, [&](MetaTxn& txn) -> Status {
    const std::string key(keys::kSharedStoreConfig);
    AIFS_ASSIGN_OR_RETURN(auto shared, LoadRecord<StoreConfig>(txn, key, "shared store config"));
    if (!shared) {
      StoreConfig mine = config;
      mine.clear_meta_url();  // each server's own
      mine.clear_kms_url();
      return PutRecord(txn, key, mine);
    }
    if (!options.chunk_url.empty() && options.chunk_url != shared->chunk_url())
      return err::FailedPrecondition("CHUNK_STORE_MISMATCH",
                                     "the store in " + meta.Url() + " keeps its chunks in " +
                                         shared->chunk_url() + ", not " + options.chunk_url +
                                         " (leave --chunks out to use the store's)");
    if (shared->chunk_url().starts_with("file://") && !shared->chunk_url().starts_with("file:///"))
      return err::FailedPrecondition("CHUNK_STORE_NOT_SHARED",
                                     "the store in " + meta.Url() +
                                         " keeps its chunks in its first server's data directory; "
                                         "other servers cannot reach them");
    config.set_store_id(shared->store_id());
    config.set_chunk_url(shared->chunk_url());
    config.set_chunk_min(shared->chunk_min());
    config.set_chunk_avg(shared->chunk_avg());
    config.set_chunk_max(shared->chunk_max());
    config.set_zstd_level(shared->zstd_level());
    config.set_segment_size(shared->segment_size());
    config.set_created_unix_ns(shared->created_unix_ns());
    return Status::Ok();
  });
}

// A data directory whose metadata URL now names another store (a database
// restored from elsewhere, a typo in a copied aifs.json) must not open it.
Status CheckSameStore(MetaStore& meta, const StoreConfig& config) {
  AIFS_ASSIGN_OR_RETURN(auto bytes, meta.Get(keys::kSharedStoreConfig));
  if (!bytes || config.store_id().empty()) return Status::Ok();
  StoreConfig shared;
  AIFS_RETURN_IF_ERROR(ParseRecord(*bytes, shared, "shared store config"));
  if (shared.store_id() == config.store_id()) return Status::Ok();
  return err::FailedPrecondition(
      "STORE_MISMATCH", "the metadata in " + meta.Url() + " belongs to store " + shared.store_id() +
                            ", not to this data directory's store " + config.store_id());
}

}  // namespace

Status Engine::Init(const std::string& data_dir, const InitOptions& options) {
  AIFS_RETURN_IF_ERROR(options.chunking.Validate());
  if (options.zstd_level < 0 || options.zstd_level > 19)
    return err::InvalidArgument("BAD_ZSTD_LEVEL", "zstd level must be 0 (off) to 19");
  struct stat st;
  if (::stat(StoreConfigPath(data_dir).c_str(), &st) == 0)
    return err::AlreadyExists("STORE_ALREADY_INITIALIZED",
                              "an AIFS store already exists in " + data_dir);
  AIFS_RETURN_IF_ERROR(MakeDirs(data_dir, 0700));
  AIFS_RETURN_IF_ERROR(MakeDirs(data_dir + "/kms", 0700));

  StoreConfig config;
  config.set_format_version(kStoreFormatVersion);
  config.set_meta_url(options.meta_url.empty() ? "rocksdb://meta" : options.meta_url);
  config.set_chunk_url(options.chunk_url.empty() ? "file://chunks" : options.chunk_url);
  config.set_kms_url(options.kms_url.empty() ? "local://kms/master.keys" : options.kms_url);
  config.set_chunk_min(options.chunking.min_size);
  config.set_chunk_avg(options.chunking.avg_size);
  config.set_chunk_max(options.chunking.max_size);
  config.set_zstd_level(options.zstd_level);
  config.set_created_unix_ns(NowUnixNanos());
  AIFS_ASSIGN_OR_RETURN(std::string store_id, NewStoreId());
  config.set_store_id(store_id);
  AIFS_RETURN_IF_ERROR(ValidateSegmentSize(options.segment_size));
  config.set_segment_size(options.segment_size);

  // Everything below is idempotent, and aifs.json is written last: an init
  // that was interrupted is simply run again.
  AIFS_ASSIGN_OR_RETURN(auto kms, OpenKms(ResolveStoreUrl(config.kms_url(), data_dir), true));
  AIFS_ASSIGN_OR_RETURN(auto meta, OpenMetaStore(ResolveStoreUrl(config.meta_url(), data_dir),
                                                 MetaOpenOptions{.create = true}));
  AIFS_RETURN_IF_ERROR(AgreeOnSharedConfig(*meta, options, config));
  AIFS_ASSIGN_OR_RETURN(auto chunks,
                        OpenChunkStore(ResolveStoreUrl(config.chunk_url(), data_dir), true));
  NamespaceRecord ns;
  RecordKeys record_keys(*meta, *kms);
  Status created = CreateNamespaceTxn(*meta, *kms, record_keys, kDefaultNamespace, {}, ns);
  if (!created.ok() && created.code() != Code::kAlreadyExists) return created;
  if (!created.ok()) {
    // Joining: this server's KMS must open the store's keys.
    AIFS_ASSIGN_OR_RETURN(ns, LoadRecord<NamespaceRecord>(*meta, keys::Namespace(kDefaultNamespace),
                                                          "NAMESPACE_NOT_FOUND", "namespace"));
    if (Status opened = record_keys.Of(ns).status(); !opened.ok())
      return err::FailedPrecondition(
          "KMS_CANNOT_OPEN_STORE",
          "this server's KMS cannot open the keys of the store in " + meta->Url() +
              " (give every server the same KMS: the same master.keys file or PKCS#11 token, "
              "see docs/scale-out.md): " +
              opened.message());
  }

  return WriteStoreConfig(data_dir, config);
}

Result<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options) {
  auto ctx = std::make_unique<StoreContext>();
  ctx->data_dir = options.data_dir;
  AIFS_ASSIGN_OR_RETURN(ctx->config, LoadStoreConfig(options.data_dir));
  const StoreConfig& c = ctx->config;
  ChunkerParams params{c.chunk_min(), c.chunk_avg(), c.chunk_max()};
  AIFS_RETURN_IF_ERROR(params.Validate());
  ctx->chunker = Chunker(params);
  ctx->compression.level = c.zstd_level();
  ctx->byte_grouping = options.byte_grouping;
  AIFS_ASSIGN_OR_RETURN(ctx->kms, OpenKms(ResolveStoreUrl(c.kms_url(), options.data_dir), false));
  auto meta = OpenMetaStore(
      ResolveStoreUrl(c.meta_url(), options.data_dir),
      MetaOpenOptions{.read_only = options.read_only, .follow_writer = options.follow_writer});
  if (!meta.ok() && meta.status().reason() == "METADATA_CORRUPT")
    return Status(meta.status().code(), meta.status().reason(),
                  meta.status().message() +
                      "; `aifs recover` salvages what is intact (after keeping a copy of the "
                      "damaged metadata), or restore a backup (`aifs restore`)");
  if (!meta.ok()) return meta.status();
  ctx->meta = std::move(*meta);
  AIFS_RETURN_IF_ERROR(CheckSameStore(*ctx->meta, ctx->config));
  AIFS_ASSIGN_OR_RETURN(ctx->chunks,
                        OpenChunkStore(ResolveStoreUrl(c.chunk_url(), options.data_dir), false));
  ctx->record_keys = std::make_unique<RecordKeys>(*ctx->meta, *ctx->kms);
  ctx->lease = std::make_unique<WriterLease>(*ctx->meta, options.lease_ttl);
  if (c.format_version() < kStoreFormatVersion && !options.read_only) {
    // Format 1 (plaintext metadata and vectors) opens as it is; once this
    // build may write sealed values (or segmented, byte-grouped chunks),
    // builds that cannot read them must refuse the store
    // (UNSUPPORTED_FORMAT) rather than show it empty or corrupt. Best
    // effort: a store that cannot take the new aifs.json (a full disk) still
    // opens for reads and deletes, and the next writable open tries again.
    store::v1::StoreConfig upgraded = ctx->config;
    upgraded.set_format_version(kStoreFormatVersion);
    upgraded.set_segment_size(SegmentSizeOf(upgraded));
    if (WriteStoreConfig(options.data_dir, upgraded).ok()) ctx->config = upgraded;
  }
  if (ctx->config.store_id().empty() && !options.read_only) {
    // A store from before store IDs: it gets one now (best effort, as above).
    store::v1::StoreConfig with_id = ctx->config;
    AIFS_ASSIGN_OR_RETURN(std::string store_id, NewStoreId());
    with_id.set_store_id(store_id);
    if (WriteStoreConfig(options.data_dir, with_id).ok()) ctx->config = with_id;
  }
  size_t threads = options.threads ? options.threads : std::thread::hardware_concurrency();
  ctx->pool = std::make_unique<ThreadPool>(threads ? threads : 2);
  ctx->io_pool = std::make_unique<ThreadPool>(kIoThreads);
  ctx->segments = std::make_unique<SegmentCache>(options.cache_bytes, SegmentSizeOf(ctx->config));
  std::unique_ptr<Engine> engine(new Engine(std::move(ctx)));
  AIFS_RETURN_IF_ERROR(engine->vectors_.Start());
  if (options.run_operators && !options.read_only) engine->operators_.Start();
  return engine;
}

Engine::~Engine() = default;

Status Engine::RequireWritable(SpaceUse use) const {
  if (ctx_->meta->read_only())
    return err::FailedPrecondition("READ_ONLY_MODE", "the store was opened read-only");
  return CheckSpace(*ctx_, use);
}

Result<NamespaceInfo> Engine::CreateNamespace(const std::string& name, const Metadata& labels) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(name));
  AIFS_RETURN_IF_ERROR(RequireWritable());
  NamespaceRecord rec;
  AIFS_RETURN_IF_ERROR(
      CreateNamespaceTxn(*ctx_->meta, *ctx_->kms, *ctx_->record_keys, name, labels, rec));
  return ToNamespaceInfo(rec);
}

Result<std::vector<NamespaceInfo>> Engine::ListNamespaces() {
  std::vector<NamespaceInfo> out;
  Status parse;
  AIFS_RETURN_IF_ERROR(ctx_->meta->Scan(
      keys::kNamespacePrefix, PrefixEnd(keys::kNamespacePrefix),
      [&](std::string_view, std::string_view value) {
        NamespaceRecord rec;
        parse = ParseRecord(value, rec, "namespace");
        if (parse.ok()) out.push_back(ToNamespaceInfo(rec));
        return parse.ok();
      }));
  AIFS_RETURN_IF_ERROR(parse);
  return out;
}

Result<NamespaceInfo> Engine::GetNamespace(const std::string& name) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(name));
  AIFS_ASSIGN_OR_RETURN(auto rec, LoadRecord<NamespaceRecord>(*ctx_->meta, keys::Namespace(name),
                                                              "NAMESPACE_NOT_FOUND",
                                                              "namespace '" + name + "'"));
  return ToNamespaceInfo(rec);
}

Status Engine::DeleteNamespace(const std::string& name) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(name));
  AIFS_RETURN_IF_ERROR(RequireWritable(SpaceUse::kFrees));
  std::vector<std::string> objects;
  AIFS_RETURN_IF_ERROR(RunTransaction(*ctx_->meta, [&](MetaTxn& txn) -> Status {
    objects.clear();
    const std::string key = keys::Namespace(name);
    AIFS_ASSIGN_OR_RETURN(auto rec, LoadRecord<NamespaceRecord>(txn, key, "namespace"));
    if (!rec) return NamespaceNotFound(name);
    // Every put commit rewrites the namespace record, so a put racing this
    // delete conflicts with it and one of the two retries.
    if (rec->asset_count() != 0)
      return err::FailedPrecondition("NAMESPACE_NOT_EMPTY",
                                     "namespace '" + name + "' still holds " +
                                         std::to_string(rec->asset_count()) + " assets");
    // Everything else the namespace owned goes with it: snapshots and their
    // trees, branches, tags and their logs, lineage leftovers, and the
    // removed assets its snapshots kept (their chunks, which no live asset
    // references, and their objects after the commit). A namespace created
    // later under the same name starts empty, with a new key. Its ingest
    // operators go too.
    for (const char* kind :
         {"cl", "mn", "sn", "br", "bh", "tg", "ta", "tb", "lc",  "lk",  "sp",  "vc", "vq",
          "ra", "ci", "ch", "pa", "pr", "pn", "pl", "op", "opp", "opd", "opf", "opr"}) {
      const std::string prefix = std::string(kind) + "/" + name + "/";
      std::vector<std::string> doomed;
      Status parse;
      AIFS_RETURN_IF_ERROR(
          ctx_->meta->Scan(prefix, PrefixEnd(prefix), [&](std::string_view k, std::string_view v) {
            doomed.emplace_back(k);
            ChunkRecord chunk;
            if (std::string_view(kind) == "ch") {
              parse = ParseRecord(v, chunk, "chunk");
              objects.push_back(chunk.object());
            }
            return parse.ok();
          }));
      AIFS_RETURN_IF_ERROR(parse);
      for (const auto& k : doomed) AIFS_RETURN_IF_ERROR(txn.Delete(k));
    }
    AIFS_RETURN_IF_ERROR(txn.Delete(keys::SnapshotHead(name)));
    AIFS_RETURN_IF_ERROR(txn.Delete(keys::SnapshotCursor(name)));
    EmitEvent(txn, {.type = EventType::kNamespaceDeleted, .ns = name});
    return txn.Delete(key);
  }));
  operators_.Notify();  // its operators went with it
  // A failure here leaves orphans for gc.
  for (const auto& object : objects) (void)ctx_->chunks->Delete(object);
  return Status::Ok();
}

Result<NamespaceInfo> Engine::SetNamespacePolicy(const std::string& name,
                                                 const NamespacePolicy& policy) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(name));
  AIFS_RETURN_IF_ERROR(RequireWritable());
  if (policy.zstd_level && (*policy.zstd_level < 0 || *policy.zstd_level > 19))
    return err::InvalidArgument("BAD_POLICY", "zstd level must be 0 (off) to 19");
  if (policy.keep_snapshot_seconds < 0)
    return err::InvalidArgument("BAD_POLICY", "snapshot retention age must not be negative");
  if (policy.segment_size != 0) AIFS_RETURN_IF_ERROR(ValidateSegmentSize(policy.segment_size));
  AIFS_RETURN_IF_ERROR(ValidatePrivacyPolicy(policy.privacy));
  if (!policy.kms_key_id.empty()) {
    const auto keys = ctx_->kms->ListKeys();
    if (std::none_of(keys.begin(), keys.end(),
                     [&](const KmsKeyInfo& k) { return k.key_id == policy.kms_key_id; }))
      return err::NotFound("KMS_KEY_NOT_FOUND", "the KMS has no key " + policy.kms_key_id);
  }
  NamespaceRecord out;
  AIFS_RETURN_IF_ERROR(RunTransaction(*ctx_->meta, [&](MetaTxn& txn) -> Status {
    const std::string key = keys::Namespace(name);
    AIFS_ASSIGN_OR_RETURN(auto rec, LoadRecord<NamespaceRecord>(txn, key, "namespace"));
    if (!rec) return NamespaceNotFound(name);
    auto* p = rec->mutable_policy();
    p->set_max_logical_bytes(policy.max_logical_bytes);
    p->set_max_assets(policy.max_assets);
    if (policy.zstd_level)
      p->set_zstd_level(*policy.zstd_level);
    else
      p->clear_zstd_level();
    p->set_keep_snapshots(policy.keep_snapshots);
    p->set_keep_snapshot_seconds(policy.keep_snapshot_seconds);
    p->set_keep_daily(policy.keep_daily);
    p->set_keep_weekly(policy.keep_weekly);
    p->set_keep_monthly(policy.keep_monthly);
    p->set_kms_key_id(policy.kms_key_id);
    p->set_quarantine_embeddings(policy.quarantine_embeddings);
    p->set_segment_size(policy.segment_size);
    if (policy.privacy == PrivacyPolicy{})
      p->clear_privacy();
    else
      ToRecord(policy.privacy, p->mutable_privacy());
    AIFS_RETURN_IF_ERROR(PutNamespaceRecord(txn, *rec));
    out = *rec;
    return Status::Ok();
  }));
  return ToNamespaceInfo(out);
}

Result<SealPolicy> Engine::ValidatePut(const PutOptions& options) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(options.ns));
  AIFS_RETURN_IF_ERROR(RequireWritable());
  AIFS_ASSIGN_OR_RETURN(auto ns_bytes, ctx_->meta->Get(keys::Namespace(options.ns)));
  if (!ns_bytes) return NamespaceNotFound(options.ns);
  NamespaceRecord ns;
  AIFS_RETURN_IF_ERROR(ParseRecord(*ns_bytes, ns, "namespace"));
  for (const auto& [k, v] : options.metadata)
    if (k.empty() || k.size() > 256 || v.size() > 65536)
      return err::InvalidArgument("BAD_METADATA",
                                  "metadata keys must be 1-256 bytes and values at most 64 KiB");
  if (options.parents.size() > 1024)
    return err::InvalidArgument("TOO_MANY_PARENTS", "an asset can name at most 1024 parents");
  if (options.path) AIFS_RETURN_IF_ERROR(ValidatePath(*options.path));
  for (const ParentRef& p : options.parents)
    if (p.transform.size() > 256 || p.transform_digest.size() > 256)
      return err::InvalidArgument("BAD_PARENT",
                                  "transform names and digests are at most 256 bytes");
  if (!options.embeddings.empty())
    AIFS_RETURN_IF_ERROR(vectors_.Validate(options.ns, options.embeddings));
  // Refuse up front what the commit would refuse anyway.
  AIFS_RETURN_IF_ERROR(CheckQuota(ns, options.expected_size.value_or(0), 0));
  SealPolicy seal(ctx_->compression, ns.policy().kms_key_id());
  // A format-2 store opened read-only never writes; one opened writable was
  // given a segment size with format 3 (Open).
  seal.segment_size = ctx_->config.segment_size();
  if (seal.segment_size != 0 && ns.policy().segment_size() != 0)
    seal.segment_size = ns.policy().segment_size();
  if (ns.policy().has_zstd_level()) seal.compression.level = ns.policy().zstd_level();
  // Builds before format 4 cannot read grouped segments: a store whose
  // aifs.json could not be marked 4 at open (Open) gets none. The writer
  // narrows the trial per chunk by the asset's kind.
  if (ctx_->byte_grouping && ctx_->config.format_version() >= kByteGroupingFormatVersion)
    seal.byte_grouping = kGroupingTrial;
  return seal;
}

Result<std::unique_ptr<AssetWriter>> Engine::BeginPut(const PutOptions& options) {
  AIFS_ASSIGN_OR_RETURN(SealPolicy seal, ValidatePut(options));
  return std::unique_ptr<AssetWriter>(new EngineAssetWriter(*ctx_, options, seal));
}

Result<std::unique_ptr<Transaction>> Engine::BeginTransaction(const std::string& ns) {
  AIFS_ASSIGN_OR_RETURN(auto txn, BeginEngineTransaction(ns));
  return std::unique_ptr<Transaction>(std::move(txn));
}

Result<std::unique_ptr<EngineTransaction>> Engine::BeginEngineTransaction(const std::string& ns) {
  AIFS_ASSIGN_OR_RETURN(SealPolicy seal, ValidatePut(PutOptions{.ns = ns}));
  return std::make_unique<EngineTransaction>(*ctx_, ns, seal,
                                             ctx_->config.format_version() >= kPackFormatVersion);
}

Result<AssetRecord> Engine::LoadAsset(const std::string& ns, const AssetId& id, bool open_sealed) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  auto rec = LoadRecord<AssetRecord>(*ctx_->meta, keys::Asset(ns, id.bytes()), "ASSET_NOT_FOUND",
                                     "asset " + id.ToHex() + " in namespace '" + ns + "'");
  if (!rec.ok() && rec.status().code() == Code::kNotFound) {
    auto ns_rec = ctx_->meta->Get(keys::Namespace(ns));
    if (ns_rec.ok() && !ns_rec->has_value()) return NamespaceNotFound(ns);
  }
  if (rec.ok() && open_sealed) AIFS_RETURN_IF_ERROR(OpenAssetRecord(*ctx_->record_keys, *rec));
  return rec;
}

Result<AssetRecord> Engine::LoadAssetAt(const std::string& ns, const AssetId& id, const AsOf& as_of,
                                        bool open_sealed) {
  if (as_of.empty()) return LoadAsset(ns, id, open_sealed);
  AIFS_RETURN_IF_ERROR(snapshots_.Prove(ns, as_of, id).status());  // held by the snapshot?
  return LoadAssetForSnapshot(ns, id, open_sealed);
}

Result<AssetInfo> Engine::StatAssetAt(const std::string& ns, const AssetId& id, const AsOf& as_of,
                                      bool with_chunks) {
  AIFS_ASSIGN_OR_RETURN(AssetRecord rec, LoadAssetAt(ns, id, as_of, /*open_sealed=*/true));
  AssetInfo info = ToAssetInfo(rec);
  if (!with_chunks) return info;
  AIFS_ASSIGN_OR_RETURN(ChunkIndex index, LoadChunkIndex(GetterOf(*ctx_->meta), rec));
  for (size_t i = 0; i < index.size(); ++i) {
    const ChunkIndex::Chunk ref = index.at(i);
    info.chunks.push_back(ChunkInfo{.hash = ref.hash, .offset = ref.offset, .length = ref.length});
  }
  for (ChunkInfo& c : info.chunks) {
    AIFS_ASSIGN_OR_RETURN(auto chunk, LoadRecord<ChunkRecord>(*ctx_->meta, keys::Chunk(ns, c.hash),
                                                              "METADATA_CORRUPT", "chunk record"));
    c.stored_size = chunk.stored_size();
    c.compressed = chunk.compression() != store::v1::COMPRESSION_NONE;
    c.kms_key_id = chunk.kms_key_id();
    c.object = chunk.object();
    c.object_offset = chunk.pack_offset();
  }
  return info;
}

Result<std::shared_ptr<const AssetRecord>> Engine::LoadAssetForRead(const std::string& ns,
                                                                    const AssetId& id,
                                                                    const AsOf& as_of) {
  if (!as_of.empty()) {
    AIFS_ASSIGN_OR_RETURN(AssetRecord rec, LoadAssetAt(ns, id, as_of, /*open_sealed=*/false));
    return std::make_shared<const AssetRecord>(std::move(rec));
  }
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  return ctx_->asset_records.Get(*ctx_->meta, ns, id,
                                 [&] { return LoadAsset(ns, id, /*open_sealed=*/false); });
}

Status Engine::ReadAssetAt(const std::string& ns, const AssetId& id, const AsOf& as_of,
                           const ReadRange& range, const ByteSink& sink) {
  AIFS_ASSIGN_OR_RETURN(auto rec, LoadAssetForRead(ns, id, as_of));
  return ReadAssetRange(*ctx_, *rec, range, sink);
}

Status Engine::ReadAssetStoredAt(const std::string& ns, const AssetId& id, const AsOf& as_of,
                                 const ReadRange& range, const StoredPieceSink& sink) {
  AIFS_ASSIGN_OR_RETURN(auto rec, LoadAssetForRead(ns, id, as_of));
  return ReadAssetRangeStored(*ctx_, *rec, range, sink);
}

Status Engine::ReadRangesAt(const std::string& ns, const AsOf& as_of,
                            std::span<const RangeRead> ranges, const RangeSink& sink) {
  if (ranges.size() > kMaxBatchRanges)
    return err::InvalidArgument("BATCH_TOO_LARGE", std::to_string(ranges.size()) +
                                                       " ranges in one batch; at most " +
                                                       std::to_string(kMaxBatchRanges));
  // Every asset's record and chunk index once; every range checked before
  // any byte goes out.
  struct Loaded {
    std::shared_ptr<const AssetRecord> rec;
    std::shared_ptr<const ChunkIndex> index;
  };
  std::map<Digest, Loaded> assets;
  uint64_t total = 0;
  auto at_range = [](size_t i, const Status& st) {
    return Status(st.code(), st.reason(), "range " + std::to_string(i) + ": " + st.message());
  };
  // As of a snapshot: its member set once (cached), not a proof per asset.
  std::shared_ptr<const AssetSet> members;
  if (!as_of.empty()) {
    AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
    AIFS_ASSIGN_OR_RETURN(members, snapshots_.Members(ns, as_of));
  }
  for (size_t i = 0; i < ranges.size(); ++i) {
    const RangeRead& r = ranges[i];
    auto it = assets.find(r.id.bytes());
    if (it == assets.end()) {
      if (members && !members->count(r.id.bytes()))
        return at_range(i,
                        err::NotFound("ASSET_NOT_IN_SNAPSHOT",
                                      "asset " + r.id.ToHex() + " is not in " + err::Echo(as_of)));
      Result<std::shared_ptr<const AssetRecord>> rec = std::shared_ptr<const AssetRecord>();
      if (members) {
        auto held = LoadAssetForSnapshot(ns, r.id, /*open_sealed=*/false);
        if (!held.ok()) return at_range(i, held.status());
        rec = std::make_shared<const AssetRecord>(std::move(*held));
      } else {
        rec = LoadAssetForRead(ns, r.id, "");
      }
      if (!rec.ok()) return at_range(i, rec.status());
      auto index = IndexOf(*ctx_, **rec);
      if (!index.ok()) return at_range(i, index.status());
      it = assets.emplace(r.id.bytes(), Loaded{std::move(*rec), std::move(*index)}).first;
    }
    auto clipped = ClipRange(it->second.rec->size(), ReadRange{r.offset, r.length});
    if (!clipped.ok()) return at_range(i, clipped.status());
    total += clipped->end - r.offset;
    if (total > kMaxBatchBytes)
      return err::InvalidArgument("BATCH_TOO_LARGE",
                                  "the batch reads more than " + std::to_string(kMaxBatchBytes) +
                                      " bytes (at range " + std::to_string(i) + ")");
  }
  for (size_t i = 0; i < ranges.size(); ++i) {
    const RangeRead& r = ranges[i];
    if (r.length == 0) continue;
    const Loaded& a = assets.at(r.id.bytes());
    AIFS_RETURN_IF_ERROR(ReadAssetRange(*ctx_, *a.rec, *a.index, ReadRange{r.offset, r.length},
                                        [&](ByteSpan b) { return sink(i, b); }));
  }
  return Status::Ok();
}

Result<AssetPage> Engine::ListAssets(const ListOptions& options) {
  AIFS_RETURN_IF_ERROR(GetNamespace(options.ns).status());
  if (!options.page_token.empty() && !AssetId::Parse(options.page_token).ok())
    return err::InvalidArgument("BAD_PAGE_TOKEN", "page token is not one this server issued");
  const size_t limit = options.limit == 0 ? 1000 : options.limit;
  if (!options.as_of.empty()) return ListAssetsAsOf(options, limit);
  const std::string prefix = keys::AssetPrefix(options.ns);
  const std::string start = prefix + options.page_token;
  AssetPage page;
  Status parse;
  std::string last;
  AssetRecord rec;  // reused: parsing into it keeps its buffers
  AIFS_RETURN_IF_ERROR(ctx_->meta->Scan(start, PrefixEnd(prefix), [&](std::string_view key,
                                                                      std::string_view value) {
    if (key == start && !options.page_token.empty()) return true;  // the previous page's last
    if (page.assets.size() == limit) {
      page.next_page_token = last;
      return false;
    }
    last = std::string(key.substr(prefix.size()));
    parse = ParseRecord(value, rec, "asset");
    if (parse.ok()) parse = OpenAssetRecord(*ctx_->record_keys, rec);
    if (!parse.ok()) return false;
    if (MatchesFilters(rec, options)) page.assets.push_back(ToAssetInfo(rec));
    return true;
  }));
  AIFS_RETURN_IF_ERROR(parse);
  return page;
}

// The snapshot's member set (cached) in ID order from the page token on:
// the same order and tokens as a listing of the head.
Result<AssetPage> Engine::ListAssetsAsOf(const ListOptions& options, size_t limit) {
  AIFS_ASSIGN_OR_RETURN(auto members, snapshots_.Members(options.ns, options.as_of));
  std::optional<AssetId> after;
  if (!options.page_token.empty()) after = *AssetId::Parse(options.page_token);
  std::vector<Digest> ids;
  ids.reserve(members->size());
  for (const Digest& id : *members)
    if (!after || id > after->bytes()) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  AssetPage page;
  for (const Digest& id : ids) {
    if (page.assets.size() == limit) {
      page.next_page_token = page.assets.back().id.ToHex();
      break;
    }
    AIFS_ASSIGN_OR_RETURN(AssetRecord rec,
                          LoadAssetForSnapshot(options.ns, AssetId(id), /*open_sealed=*/true));
    if (MatchesFilters(rec, options)) page.assets.push_back(ToAssetInfo(rec));
  }
  return page;
}

Status Engine::DeleteAsset(const std::string& ns, const AssetId& id, bool force) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  AIFS_RETURN_IF_ERROR(RequireWritable(SpaceUse::kFrees));
  // The asset leaves the live head; its data stays for the snapshots that
  // hold it until gc finds none does (engine/reclaim.h), and goes at once
  // when none does.
  uint64_t retired_seq = 0;
  AIFS_RETURN_IF_ERROR(RunTransaction(*ctx_->meta, [&](MetaTxn& txn) -> Status {
    const std::string ns_key = keys::Namespace(ns);
    AIFS_ASSIGN_OR_RETURN(auto ns_rec, LoadRecord<NamespaceRecord>(txn, ns_key, "namespace"));
    if (!ns_rec) return NamespaceNotFound(ns);
    const std::string asset_key = keys::Asset(ns, id.bytes());
    AIFS_ASSIGN_OR_RETURN(auto asset, LoadRecord<AssetRecord>(txn, asset_key, "asset"));
    if (!asset) return AssetNotFound(ns, id);
    AIFS_ASSIGN_OR_RETURN(uint64_t children, AdjustChildCount(txn, ns, id, 0));
    if (children > 0 && !force)
      return err::FailedPrecondition("HAS_CHILDREN",
                                     "asset " + id.ToHex() + " has " + std::to_string(children) +
                                         " live children; delete them first or force");
    // The parents lose a live child. A forced delete keeps its edges and a
    // tombstone, so lineage through the deleted asset stays answerable.
    for (const auto& edge : asset->parents()) {
      auto parent = AssetId::FromBytes(AsBytes(edge.parent()));
      if (!parent) continue;
      AIFS_RETURN_IF_ERROR(AdjustChildCount(txn, ns, *parent, -1).status());
      if (children == 0)
        AIFS_RETURN_IF_ERROR(txn.Delete(keys::Child(ns, parent->bytes(), id.bytes())));
    }
    if (children > 0) {
      store::v1::Tombstone tomb;
      *tomb.mutable_asset() = *asset;
      tomb.mutable_asset()->clear_chunks();
      tomb.mutable_asset()->clear_chunk_count();
      tomb.set_deleted_unix_ns(NowUnixNanos());
      AIFS_RETURN_IF_ERROR(PutRecord(txn, keys::Tombstone(ns, id.bytes()), tomb));
    }
    AIFS_RETURN_IF_ERROR(UnbindAssetPaths(*ctx_->meta, txn, *ns_rec, id));
    AIFS_RETURN_IF_ERROR(RetireAsset(txn, *ns_rec, *asset));
    AIFS_RETURN_IF_ERROR(txn.Put(keys::Change(ns, ns_rec->change_generation(), id.bytes()), "-"));
    // Vectors held for review are never searched, not even as of a snapshot.
    AIFS_RETURN_IF_ERROR(DeleteVectors(*ctx_->meta, txn, ns, id, /*searchable_too=*/false));
    EmitEvent(txn, {.type = EventType::kAssetDeleted, .ns = ns, .asset = id});
    retired_seq = ns_rec->retire_seq();
    return PutNamespaceRecord(txn, *ns_rec);
  }));
  // The removal is committed; should this fail, gc releases it later.
  (void)Reclaimer(*ctx_, snapshots_).ReleaseIfUnheld(ns, id, retired_seq);
  return Status::Ok();
}

Result<AssetRecord> Engine::LoadAssetForSnapshot(const std::string& ns, const AssetId& id,
                                                 bool open_sealed) {
  return LoadAssetAnyState(*ctx_, ns, id, open_sealed);
}

Result<AssetInfo> Engine::LoadLineageNode(const std::string& ns, const AssetId& id) {
  auto rec = LoadAsset(ns, id);
  if (rec.ok()) return ToAssetInfo(*rec);
  if (rec.status().reason() != "ASSET_NOT_FOUND") return rec.status();
  AIFS_ASSIGN_OR_RETURN(auto tomb, ctx_->meta->Get(keys::Tombstone(ns, id.bytes())));
  if (!tomb) return rec.status();
  store::v1::Tombstone t;
  AIFS_RETURN_IF_ERROR(ParseRecord(*tomb, t, "tombstone"));
  AIFS_RETURN_IF_ERROR(OpenAssetRecord(*ctx_->record_keys, *t.mutable_asset()));
  AssetInfo info = ToAssetInfo(t.asset());
  info.deleted = true;
  return info;
}

Result<LineageGraph> Engine::GetLineage(const std::string& ns, const AssetId& id,
                                        LineageDirection direction, int depth) {
  if (depth < 1 || depth > 1000)
    return err::InvalidArgument("BAD_DEPTH", "lineage depth must be 1 to 1000");
  LineageGraph graph;
  graph.root = id;
  AIFS_ASSIGN_OR_RETURN(AssetInfo root, LoadLineageNode(ns, id));
  std::set<AssetId> seen{id};
  std::vector<AssetInfo> frontier{root};
  graph.assets.push_back(std::move(root));
  for (int level = 1; level <= depth && !frontier.empty(); ++level) {
    std::vector<AssetInfo> next;
    auto visit = [&](LineageEdge edge, const AssetId& far) -> Status {
      edge.depth = level;
      graph.edges.push_back(std::move(edge));
      if (!seen.insert(far).second) return Status::Ok();
      auto loaded = LoadLineageNode(ns, far);
      if (!loaded.ok() && loaded.status().reason() != "ASSET_NOT_FOUND") return loaded.status();
      // An ancestor deleted without a tombstone is still named by the edge.
      AssetInfo info;
      if (loaded.ok()) {
        info = std::move(*loaded);
      } else {
        info.ns = ns;
        info.id = far;
        info.deleted = true;
      }
      next.push_back(info);
      graph.assets.push_back(std::move(info));
      return Status::Ok();
    };
    for (const AssetInfo& node : frontier) {
      if (direction == LineageDirection::kUp) {
        for (const ParentRef& p : node.parents)
          AIFS_RETURN_IF_ERROR(
              visit({p.parent, node.id, p.transform, p.transform_digest}, p.parent));
        continue;
      }
      const std::string prefix = keys::ChildPrefix(ns, node.id.bytes());
      std::vector<LineageEdge> edges;
      Status parse;
      AIFS_RETURN_IF_ERROR(ctx_->meta->Scan(prefix, PrefixEnd(prefix),
                                            [&](std::string_view, std::string_view value) {
                                              store::v1::ChildEdge e;
                                              parse = ParseRecord(value, e, "lineage edge");
                                              auto child = AssetId::FromBytes(AsBytes(e.child()));
                                              if (parse.ok() && child)
                                                edges.push_back({node.id, *child, e.transform(),
                                                                 e.transform_digest()});
                                              return parse.ok();
                                            }));
      AIFS_RETURN_IF_ERROR(parse);
      for (LineageEdge& e : edges) {
        AssetId child = e.child;
        AIFS_RETURN_IF_ERROR(visit(std::move(e), child));
      }
    }
    frontier = std::move(next);
  }
  return graph;
}

Result<VerifyReport> Engine::VerifyAsset(const std::string& ns, const AssetId& id) {
  AIFS_ASSIGN_OR_RETURN(AssetRecord rec, LoadAsset(ns, id));
  VerifyReport report;
  report.id = id;
  report.result = ReadAssetRange(*ctx_, rec, ReadRange{}, [&](ByteSpan b) {
    report.bytes_checked += b.size();
    return Status::Ok();
  }, &report.chunks_checked);
  return report;
}

Result<UpgradeReport> Engine::Upgrade(const UpgradeOptions& options,
                                      const UpgradeProgress& progress) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  return UpgradeStore(*ctx_, options, progress);
}

Result<AssetId> Engine::ResolvePath(const std::string& ns, const std::string& path,
                                    const AsOf& as_of) {
  return paths_.Resolve(ns, path, as_of);
}
Result<PathPage> Engine::ListPaths(const PathListOptions& options) { return paths_.List(options); }
Status Engine::BindPath(const std::string& ns, const std::string& path, const AssetId& id) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  return paths_.Bind(ns, path, id);
}
Status Engine::MovePath(const std::string& ns, const std::string& from, const std::string& to) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  return paths_.Move(ns, from, to);
}
Status Engine::RemovePath(const std::string& ns, const std::string& path) {
  AIFS_RETURN_IF_ERROR(RequireWritable(SpaceUse::kFrees));
  return paths_.Remove(ns, path);
}

Result<CheckoutReport> Engine::Checkout(const std::string& ns, const std::string& ref) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  return paths_.Checkout(ns, ref);
}

Result<SnapshotInfo> Engine::CreateSnapshot(const std::string& ns, const SnapshotOptions& options) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  return snapshots_.Create(ns, options);
}
Result<SnapshotInfo> Engine::GetSnapshot(const std::string& ns, const std::string& ref) {
  return snapshots_.Get(ns, ref);
}
Result<std::vector<SnapshotInfo>> Engine::ListSnapshots(const std::string& ns) {
  return snapshots_.List(ns);
}
Status Engine::VerifySnapshot(const std::string& ns, const std::string& ref) {
  return snapshots_.Verify(ns, ref);
}
Result<SnapshotProof> Engine::ProveAsset(const std::string& ns, const std::string& ref,
                                         const AssetId& id) {
  return snapshots_.Prove(ns, ref, id);
}
Result<SnapshotProof> Engine::ProvePath(const std::string& ns, const std::string& ref,
                                        const std::string& path) {
  return snapshots_.ProvePath(ns, ref, path);
}
Result<PruneReport> Engine::PruneSnapshots(const std::string& ns, const PruneOptions& options) {
  if (!options.dry_run) AIFS_RETURN_IF_ERROR(RequireWritable(SpaceUse::kFrees));
  return snapshots_.Prune(ns, options);
}
Result<SnapshotDiff> Engine::DiffSnapshots(const std::string& ns, const std::string& a,
                                           const std::string& b) {
  return snapshots_.Diff(ns, a, b);
}
Result<std::vector<SnapshotInfo>> Engine::SnapshotLog(const std::string& ns, const std::string& ref,
                                                      size_t limit) {
  return SnapshotHistory(snapshots_, ns, ref, limit);
}
Result<MergeReport> Engine::Merge(const MergeOptions& options) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  return MergeSnapshots(*ctx_, snapshots_, options, /*revert=*/false);
}
Result<MergeReport> Engine::Revert(const MergeOptions& options) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  return MergeSnapshots(*ctx_, snapshots_, options, /*revert=*/true);
}
Result<BranchInfo> Engine::CreateBranch(const std::string& ns, const std::string& name,
                                        const std::string& ref, const std::string& who) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  return snapshots_.CreateBranch(ns, name, ref, who);
}
Result<BranchInfo> Engine::MoveBranch(const std::string& ns, const std::string& name,
                                      const SnapshotId& expected, const std::string& ref,
                                      const std::string& who) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  return snapshots_.MoveBranch(ns, name, expected, ref, who);
}
Status Engine::DeleteBranch(const std::string& ns, const std::string& name,
                            const std::string& who) {
  AIFS_RETURN_IF_ERROR(RequireWritable(SpaceUse::kFrees));
  return snapshots_.DeleteBranch(ns, name, who);
}
Result<std::vector<BranchInfo>> Engine::ListBranches(const std::string& ns) {
  return snapshots_.ListBranches(ns);
}
Result<std::vector<BranchMoveInfo>> Engine::BranchLog(const std::string& ns,
                                                      const std::string& name) {
  return snapshots_.BranchLog(ns, name);
}
Result<TagInfo> Engine::CreateTag(const std::string& ns, const std::string& name,
                                  const std::string& ref, const std::string& who) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  return snapshots_.CreateTag(ns, name, ref, who);
}
Status Engine::DeleteTag(const std::string& ns, const std::string& name, const std::string& who) {
  AIFS_RETURN_IF_ERROR(RequireWritable(SpaceUse::kFrees));
  return snapshots_.DeleteTag(ns, name, who);
}
Result<std::vector<TagInfo>> Engine::ListTags(const std::string& ns) {
  return snapshots_.ListTags(ns);
}

void Engine::ReleaseIdleMemory() {
  ctx_->put_blocks.Clear();
  ctx_->pack_buffers.Clear();
  malloc_trim(0);
}

Status Engine::CheckHealth() {
  AIFS_RETURN_IF_ERROR(ctx_->meta->Get(keys::Namespace("default")).status().WithContext(
      "health: metadata store"));
  AesKey probe_key{};
  AIFS_RETURN_IF_ERROR(SecureRandom(probe_key));
  const ByteSpan context = AsBytes("aifs/health-probe");
  AIFS_ASSIGN_OR_RETURN(WrappedKey wrapped, ctx_->kms->Wrap(probe_key, context));
  AIFS_ASSIGN_OR_RETURN(AesKey unwrapped, ctx_->kms->Unwrap(wrapped.key_id, wrapped.blob, context));
  if (unwrapped != probe_key)
    return err::Internal("HEALTH_KMS_MISMATCH", "health: KMS unwrap returned a different key");
  Status writes = ctx_->meta->read_only()
                     ? CheckSpace(*ctx_, SpaceUse::kGrows).WithContext("health")
                     : ProbeWrites();
  // Space and read-only disks stop writes only; any other failure (a chunk
  // store gone, I/O errors) may stop reads too.
  if (writes.ok() || (writes.reason() != "STORAGE_FULL" && writes.reason() != "STORAGE_READ_ONLY"))
    return writes;
  return err::Unavailable("DEGRADED", "reads work, writes fail: " + writes.ToString());
}

Status Engine::ProbeWrites() {
  AIFS_RETURN_IF_ERROR(ctx_->meta->CheckWritable().WithContext("health: metadata store"));
  AIFS_RETURN_IF_ERROR(CheckSpace(*ctx_, SpaceUse::kGrows).WithContext("health"));
  auto named = ctx_->lease->NewObjectName();
  if (!named.ok()) return named.status().WithContext("health: metadata store");
  const std::string name = std::move(*named);
  ctx_->in_flight.Add(name);  // not an orphan for a concurrent gc
  Bytes back;
  Status st = ctx_->chunks->Put(name, AsBytes(name));
  if (st.ok()) st = ctx_->chunks->Get(name, back);
  if (st.ok() && AsChars(back) != name)
    st = err::DataLoss("HEALTH_CHUNK_MISMATCH", "health: probe object read back differently");
  Status removed = ctx_->chunks->Delete(name);
  ctx_->in_flight.Remove(name);
  AIFS_RETURN_IF_ERROR(st.WithContext("health: chunk store"));
  return removed.WithContext("health: chunk store");
}

Result<StoreDescription> Engine::DescribeStore() {
  const StoreConfig& c = ctx_->config;
  StoreDescription d;
  d.store_id = c.store_id();
  d.data_dir = ctx_->data_dir;
  d.meta_url = ctx_->meta->Url();
  d.chunk_url = ctx_->chunks->Url();
  d.kms_kind = ctx_->kms->Kind();
  d.kms_current_key = ctx_->kms->CurrentKeyId();
  d.chunk_min = c.chunk_min();
  d.chunk_avg = c.chunk_avg();
  d.chunk_max = c.chunk_max();
  d.zstd_level = c.zstd_level();
  d.read_only = ctx_->meta->read_only();
  d.txn_conflicts_retried = ctx_->meta->conflicts_retried();
  return d;
}

Result<GcReport> Engine::CollectGarbage(bool dry_run) {
  if (!dry_run) AIFS_RETURN_IF_ERROR(RequireWritable(SpaceUse::kNone));
  // Never delete on a history that lost records: what looks orphaned may be
  // the data of a committed asset whose record is missing.
  if (auto history = ctx_->meta->CheckIntegrity(/*read_all=*/false);
      !history.ok() && history.status().code() != Code::kUnimplemented)
    return err::FailedPrecondition("METADATA_CORRUPT",
                                   "gc refuses to delete anything: " + history.status().message());
  GcReport report;
  report.dry_run = dry_run;
  // Removed assets no retained snapshot holds go first, so the sweep below
  // also finds objects a release could not delete.
  AIFS_RETURN_IF_ERROR(Reclaimer(*ctx_, snapshots_).Run(dry_run, report));
  // Order matters: list objects, then note the puts in flight (other
  // servers': their live writer leases, expired ones revoked; ours: the
  // in-flight set), then read the references. An object committed after the
  // listing was in flight when noted (a revoked lease's commit fails), and
  // one committed before the note is seen by the later scan.
  std::vector<std::pair<std::string, uint64_t>> objects;
  AIFS_RETURN_IF_ERROR(ctx_->chunks->List([&](const std::string& name, uint64_t size) {
    objects.emplace_back(name, size);
    return true;
  }));
  AIFS_ASSIGN_OR_RETURN(const auto live_leases, ctx_->lease->RevokeExpired(NowUnixNanos(), dry_run,
                                                                           &report.leases_revoked));
  const auto in_flight = ctx_->in_flight.Copy();
  std::unordered_set<std::string> referenced;
  PackCensus packs;
  Status parse;
  AIFS_RETURN_IF_ERROR(ctx_->meta->Scan(keys::kChunkPrefixAll, PrefixEnd(keys::kChunkPrefixAll),
                                        [&](std::string_view, std::string_view value) {
                                          ChunkRecord rec;
                                          parse = ParseRecord(value, rec, "chunk");
                                          if (!parse.ok()) return false;
                                          referenced.insert(rec.object());
                                          packs.Add(rec);
                                          return true;
                                        }));
  AIFS_RETURN_IF_ERROR(parse);
  for (const auto& [name, size] : objects) {
    ++report.objects_scanned;
    // A partial object "<object>.<suffix>" (a crash leftover of the file
    // store) belongs to its object's put.
    const std::string object = name.substr(0, name.find('.'));
    if (referenced.count(name) || in_flight.count(object)) continue;
    const std::string lease(WriterLease::LeaseOf(object));
    if (!lease.empty() && live_leases.count(lease) && !ctx_->lease->IsOurs(lease)) {
      ++report.objects_leased;  // another server's put in flight (or its leftover, until it exits)
      continue;
    }
    ++report.orphan_objects;
    report.orphan_bytes += size;
    if (!dry_run && ctx_->chunks->Delete(name).ok()) ++report.reclaimed_objects;
  }
  // Packs that are mostly dead bytes: their live chunks move to new ones.
  std::unordered_map<std::string, uint64_t> sizes;
  for (const auto& [name, size] : objects)
    if (packs.live_bytes().count(name)) sizes.emplace(name, size);
  AIFS_RETURN_IF_ERROR(RepackSparse(*ctx_, packs, sizes, dry_run, report));
  return report;
}

Result<MetadataCheck> Engine::CheckMetadata() {
  auto checked = ctx_->meta->CheckIntegrity(/*read_all=*/true);
  if (!checked.ok() && checked.status().code() == Code::kUnimplemented)
    return MetadataCheck{.meta_url = ctx_->meta->Url(), .not_checked = checked.status().message()};
  AIFS_ASSIGN_OR_RETURN(MetaIntegrity m, std::move(checked));
  return MetadataCheck{ctx_->meta->Url(), m.sequence, m.high_water, m.files_checked,
                       m.bytes_checked};
}

Status Engine::SubscribeEvents(const EventQuery& query, const EventSink& sink) {
  if (!query.ns.empty()) AIFS_RETURN_IF_ERROR(ValidateNamespaceName(query.ns));
  return StreamEvents(*ctx_->meta, query, sink);
}

Result<EmbeddingSpace> Engine::CreateSpace(const std::string& ns, const EmbeddingSpace& space) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  return vectors_.CreateSpace(ns, space);
}
Result<std::vector<EmbeddingSpace>> Engine::ListSpaces(const std::string& ns) {
  return vectors_.ListSpaces(ns);
}
Result<VectorResult> Engine::VectorSearch(const VectorQuery& query) {
  if (!query.text.empty() || !query.embed_with.empty()) {
    if (query.text.empty() || query.embed_with.empty() || !query.vector.empty() || query.like)
      return err::InvalidArgument("BAD_QUERY",
                                  "a text query needs the operator that embeds it (embed_with), "
                                  "and no vector or `like`");
    VectorQuery q = query;
    std::string space;
    AIFS_ASSIGN_OR_RETURN(q.vector,
                          EmbedWithOperator(*ctx_->meta, q.ns, q.embed_with, q.text, space));
    if (q.space.empty()) q.space = space;
    q.text.clear();
    q.embed_with.clear();
    return VectorSearch(q);
  }
  if (query.as_of.empty()) return vectors_.Search(query);
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(query.ns));
  AIFS_ASSIGN_OR_RETURN(auto members, snapshots_.Members(query.ns, query.as_of));
  return vectors_.Search(query, members.get());
}
Result<std::vector<PendingEmbedding>> Engine::ListPendingEmbeddings(const std::string& ns,
                                                                    const std::string& space,
                                                                    size_t limit) {
  return vectors_.ListPending(ns, space, limit);
}
Result<uint64_t> Engine::ReviewEmbeddings(const EmbeddingReview& review) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  return vectors_.Review(review);
}

Result<std::string> Engine::RotateKey() {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  return ctx_->kms->Rotate();
}

}  // namespace aifs
