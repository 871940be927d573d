#include "aifs/rpc/convert.h"

namespace aifs::rpc {

namespace {

// The helpers below overload these; the public ones must stay visible to the
// templates.
using rpc::FromProto;
using rpc::ToProto;

template <typename Id>
std::string RawOpt(const std::optional<Id>& id) {
  return id ? Raw(id->bytes()) : std::string();
}

Result<std::optional<AssetId>> ParseOptionalAsset(const std::string& bytes) {
  if (bytes.empty()) return std::optional<AssetId>();
  AIFS_ASSIGN_OR_RETURN(AssetId id, ParseAssetId(bytes));
  return std::optional<AssetId>(id);
}

Result<std::optional<SnapshotId>> ParseOptionalSnapshot(const std::string& bytes) {
  if (bytes.empty()) return std::optional<SnapshotId>();
  AIFS_ASSIGN_OR_RETURN(SnapshotId id, ParseSnapshotId(bytes));
  return std::optional<SnapshotId>(id);
}

template <size_t N>
Result<std::array<uint8_t, N>> ParseFixed(const std::string& bytes, const char* what) {
  if (bytes.size() != N)
    return err::InvalidArgument("BAD_FIELD", std::string(what) + " must be " + std::to_string(N) +
                                                 " bytes, got " + std::to_string(bytes.size()));
  std::array<uint8_t, N> out{};
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

// Digests and keys that may be absent (all zero) in a message.
template <size_t N>
Result<std::array<uint8_t, N>> ParseFixedOrZero(const std::string& bytes, const char* what) {
  if (bytes.empty()) return std::array<uint8_t, N>{};
  return ParseFixed<N>(bytes, what);
}

void ToProto(const ParentRef& in, v1::Parent* out) {
  out->set_asset(Raw(in.parent.bytes()));
  out->set_transform(in.transform);
  out->set_transform_digest(in.transform_digest);
}

Result<ParentRef> FromProto(const v1::Parent& in) {
  AIFS_ASSIGN_OR_RETURN(AssetId id, ParseAssetId(in.asset()));
  return ParentRef{id, in.transform(), in.transform_digest()};
}

void ToProto(const ChunkInfo& in, v1::Chunk* out) {
  out->set_hash(Raw(in.hash));
  out->set_offset(in.offset);
  out->set_length(in.length);
  out->set_stored_size(in.stored_size);
  out->set_compressed(in.compressed);
  out->set_kms_key_id(in.kms_key_id);
  out->set_object(in.object);
  out->set_object_offset(in.object_offset);
}

Result<ChunkInfo> FromProto(const v1::Chunk& in) {
  ChunkInfo c;
  AIFS_ASSIGN_OR_RETURN(c.hash, ParseFixed<32>(in.hash(), "chunk hash"));
  c.offset = in.offset();
  c.length = in.length();
  c.stored_size = in.stored_size();
  c.compressed = in.compressed();
  c.kms_key_id = in.kms_key_id();
  c.object = in.object();
  c.object_offset = in.object_offset();
  return c;
}

void ToProto(const MetaFilter& in, v1::MetaFilter* out) {
  out->set_key(in.key);
  out->set_op(static_cast<v1::MetaFilter::Op>(in.op));
  out->set_value(in.value);
  for (const auto& v : in.values) out->add_values(v);
  if (in.min) out->set_min(*in.min);
  if (in.max) out->set_max(*in.max);
}

Result<MetaFilter> FromProto(const v1::MetaFilter& in) {
  if (!v1::MetaFilter::Op_IsValid(in.op()))
    return err::InvalidArgument("BAD_FILTER", "unknown filter op " + std::to_string(in.op()));
  MetaFilter f{in.key(), static_cast<MetaFilter::Op>(in.op()), in.value(), {}, {}, {}};
  f.values.assign(in.values().begin(), in.values().end());
  if (in.has_min()) f.min = in.min();
  if (in.has_max()) f.max = in.max();
  return f;
}

void ToProto(const Embedding& in, v1::Embedding* out) {
  out->set_space(in.space);
  out->mutable_values()->Add(in.values.begin(), in.values.end());
}

Result<Embedding> FromProto(const v1::Embedding& in) {
  return Embedding{in.space(), std::vector<float>(in.values().begin(), in.values().end())};
}

void ToProto(const LineageEdge& in, v1::LineageEdge* out) {
  out->set_parent(Raw(in.parent.bytes()));
  out->set_child(Raw(in.child.bytes()));
  out->set_transform(in.transform);
  out->set_transform_digest(in.transform_digest);
  out->set_depth(in.depth);
}

Result<LineageEdge> FromProto(const v1::LineageEdge& in) {
  LineageEdge e;
  AIFS_ASSIGN_OR_RETURN(e.parent, ParseAssetId(in.parent()));
  AIFS_ASSIGN_OR_RETURN(e.child, ParseAssetId(in.child()));
  e.transform = in.transform();
  e.transform_digest = in.transform_digest();
  e.depth = in.depth();
  return e;
}

template <typename Out, typename In>
Result<std::vector<Out>> FromAll(const google::protobuf::RepeatedPtrField<In>& in) {
  std::vector<Out> out;
  out.reserve(in.size());
  for (const In& m : in) {
    AIFS_ASSIGN_OR_RETURN(Out v, FromProto(m));
    out.push_back(std::move(v));
  }
  return out;
}

template <typename In, typename Out>
void ToAll(const std::vector<In>& in, google::protobuf::RepeatedPtrField<Out>* out) {
  out->Reserve(static_cast<int>(in.size()));
  for (const In& v : in) ToProto(v, out->Add());
}

Result<std::vector<AssetId>> AssetIds(const google::protobuf::RepeatedPtrField<std::string>& in) {
  std::vector<AssetId> out;
  for (const std::string& b : in) {
    AIFS_ASSIGN_OR_RETURN(AssetId id, ParseAssetId(b));
    out.push_back(id);
  }
  return out;
}

}  // namespace

std::string Raw(ByteSpan bytes) { return std::string(AsChars(bytes)); }

Result<AssetId> ParseAssetId(const std::string& bytes) {
  auto id = bytes.size() == AssetId::kSize ? AssetId::FromBytes(AsBytes(bytes)) : std::nullopt;
  if (!id)
    return err::InvalidArgument("BAD_ASSET_ID", "an asset ID is 32 bytes, got " +
                                                    std::to_string(bytes.size()));
  return *id;
}

Result<SnapshotId> ParseSnapshotId(const std::string& bytes) {
  if (bytes.size() != SnapshotId::kSize)
    return err::InvalidArgument("BAD_SNAPSHOT_ID", "a snapshot ID is 16 bytes, got " +
                                                       std::to_string(bytes.size()));
  return SnapshotId(FixedBytes<SnapshotId::kSize>(bytes));
}

Result<AssetKind> ParseKind(v1::AssetKind kind, bool unspecified_is_blob) {
  if (kind == v1::ASSET_KIND_UNSPECIFIED && unspecified_is_blob) return AssetKind::kBlob;
  if (kind < v1::ASSET_KIND_BLOB || kind > v1::ASSET_KIND_ARTIFACT)
    return err::InvalidArgument("UNKNOWN_KIND", "unknown asset kind " + std::to_string(kind));
  return static_cast<AssetKind>(kind);
}

void ToProto(const NamespaceInfo& in, v1::Namespace* out) {
  out->set_name(in.name);
  out->set_created_unix_ns(in.created_unix_ns);
  out->mutable_labels()->insert(in.labels.begin(), in.labels.end());
  out->set_asset_count(in.asset_count);
  out->set_logical_bytes(in.logical_bytes);
  out->set_chunk_count(in.chunk_count);
  out->set_stored_bytes(in.stored_bytes);
  out->set_unique_bytes(in.unique_bytes);
  out->set_retired_count(in.retired_count);
  out->set_retired_bytes(in.retired_bytes);
  out->set_head_version(in.head_version);
  out->set_signing_public_key(Raw(in.signing_public_key));
  ToProto(in.policy, out->mutable_policy());
}

Result<NamespaceInfo> FromProto(const v1::Namespace& in) {
  NamespaceInfo n;
  n.name = in.name();
  n.created_unix_ns = in.created_unix_ns();
  n.labels.insert(in.labels().begin(), in.labels().end());
  n.asset_count = in.asset_count();
  n.logical_bytes = in.logical_bytes();
  n.chunk_count = in.chunk_count();
  n.stored_bytes = in.stored_bytes();
  n.unique_bytes = in.unique_bytes();
  n.retired_count = in.retired_count();
  n.retired_bytes = in.retired_bytes();
  n.head_version = in.head_version();
  AIFS_ASSIGN_OR_RETURN(n.signing_public_key,
                        ParseFixedOrZero<32>(in.signing_public_key(), "signing key"));
  n.policy = FromProto(in.policy());
  return n;
}

void ToProto(const AssetInfo& in, v1::Asset* out) {
  out->set_ns(in.ns);
  out->set_id(Raw(in.id.bytes()));
  out->set_kind(static_cast<v1::AssetKind>(in.kind));
  out->set_size(in.size);
  out->mutable_metadata()->insert(in.metadata.begin(), in.metadata.end());
  out->set_created_unix_ns(in.created_unix_ns);
  out->set_chunk_count(in.chunk_count);
  ToAll(in.parents, out->mutable_parents());
  out->set_deleted(in.deleted);
  ToAll(in.chunks, out->mutable_chunks());
  out->set_uri(in.Uri().ToString());
}

Result<AssetInfo> FromProto(const v1::Asset& in) {
  AssetInfo a;
  a.ns = in.ns();
  AIFS_ASSIGN_OR_RETURN(a.id, ParseAssetId(in.id()));
  AIFS_ASSIGN_OR_RETURN(a.kind, ParseKind(in.kind(), false));
  a.size = in.size();
  a.metadata.insert(in.metadata().begin(), in.metadata().end());
  a.created_unix_ns = in.created_unix_ns();
  a.chunk_count = in.chunk_count();
  AIFS_ASSIGN_OR_RETURN(a.parents, FromAll<ParentRef>(in.parents()));
  a.deleted = in.deleted();
  AIFS_ASSIGN_OR_RETURN(a.chunks, FromAll<ChunkInfo>(in.chunks()));
  return a;
}

void ToProto(const PutOptions& in, v1::PutHeader* out) {
  out->set_ns(in.ns);
  out->set_kind(static_cast<v1::AssetKind>(in.kind));
  out->mutable_metadata()->insert(in.metadata.begin(), in.metadata.end());
  ToAll(in.parents, out->mutable_parents());
  if (in.expected_size) out->set_expected_size(*in.expected_size);
  out->set_expected_id(RawOpt(in.expected_id));
  ToAll(in.embeddings, out->mutable_embeddings());
  if (in.path) out->set_path(*in.path);
}

Result<PutOptions> FromProto(const v1::PutHeader& in) {
  PutOptions o;
  o.ns = in.ns();
  AIFS_ASSIGN_OR_RETURN(o.kind, ParseKind(in.kind(), true));
  o.metadata.insert(in.metadata().begin(), in.metadata().end());
  AIFS_ASSIGN_OR_RETURN(o.parents, FromAll<ParentRef>(in.parents()));
  if (in.has_expected_size()) o.expected_size = in.expected_size();
  AIFS_ASSIGN_OR_RETURN(o.expected_id, ParseOptionalAsset(in.expected_id()));
  AIFS_ASSIGN_OR_RETURN(o.embeddings, FromAll<Embedding>(in.embeddings()));
  if (in.has_path()) o.path = in.path();
  return o;
}

void ToProto(const PutResult& in, v1::PutAssetResponse* out) {
  ToProto(in.asset, out->mutable_asset());
  out->set_created(in.created);
  out->set_staged(in.staged);
  out->set_chunks_total(in.chunks_total);
  out->set_chunks_new(in.chunks_new);
  out->set_bytes_stored(in.bytes_stored);
}

Result<PutResult> FromProto(const v1::PutAssetResponse& in) {
  PutResult r;
  AIFS_ASSIGN_OR_RETURN(r.asset, FromProto(in.asset()));
  r.created = in.created();
  r.staged = in.staged();
  r.chunks_total = in.chunks_total();
  r.chunks_new = in.chunks_new();
  r.bytes_stored = in.bytes_stored();
  return r;
}

void ToProto(const ListOptions& in, v1::ListAssetsRequest* out) {
  out->set_ns(in.ns);
  out->set_limit(static_cast<uint32_t>(std::min<size_t>(in.limit, UINT32_MAX)));
  out->set_page_token(in.page_token);
  ToAll(in.filters, out->mutable_filters());
  if (in.kind) out->set_kind(static_cast<v1::AssetKind>(*in.kind));
  out->set_as_of(in.as_of);
}

Result<ListOptions> FromProto(const v1::ListAssetsRequest& in) {
  ListOptions o;
  o.ns = in.ns();
  if (in.limit() != 0) o.limit = in.limit();
  o.page_token = in.page_token();
  o.as_of = in.as_of();
  AIFS_ASSIGN_OR_RETURN(o.filters, FromAll<MetaFilter>(in.filters()));
  if (in.kind() != v1::ASSET_KIND_UNSPECIFIED) {
    AIFS_ASSIGN_OR_RETURN(o.kind, ParseKind(in.kind(), false));
  }
  return o;
}

void ToProto(const LineageGraph& in, v1::GetLineageResponse* out) {
  out->set_root(Raw(in.root.bytes()));
  ToAll(in.edges, out->mutable_edges());
  ToAll(in.assets, out->mutable_assets());
}

Result<LineageGraph> FromProto(const v1::GetLineageResponse& in) {
  LineageGraph g;
  AIFS_ASSIGN_OR_RETURN(g.root, ParseAssetId(in.root()));
  AIFS_ASSIGN_OR_RETURN(g.edges, FromAll<LineageEdge>(in.edges()));
  AIFS_ASSIGN_OR_RETURN(g.assets, FromAll<AssetInfo>(in.assets()));
  return g;
}

void ToProto(const SnapshotInfo& in, v1::Snapshot* out) {
  out->set_ns(in.ns);
  out->set_id(Raw(in.id.bytes()));
  out->set_root(Raw(in.root));
  out->set_height(in.height);
  out->set_count(in.count);
  out->set_created_unix_ns(in.created_unix_ns);
  out->set_signature(Raw(in.signature));
  out->set_public_key(Raw(in.public_key));
  out->set_explicit_set(in.explicit_set);
  if (in.version < 2) return;
  out->set_version(in.version);
  out->set_path_root(Raw(in.path_root));
  out->set_path_height(in.path_height);
  out->set_path_count(in.path_count);
  out->set_message(in.message);
  out->set_author(in.author);
  for (const SnapshotId& p : in.parents) out->add_parents(Raw(p.bytes()));
}

Result<SnapshotInfo> FromProto(const v1::Snapshot& in) {
  SnapshotInfo s;
  s.ns = in.ns();
  AIFS_ASSIGN_OR_RETURN(s.id, ParseSnapshotId(in.id()));
  AIFS_ASSIGN_OR_RETURN(s.root, ParseFixed<32>(in.root(), "snapshot root"));
  if (in.height() > 255)
    return err::InvalidArgument("BAD_FIELD", "snapshot height " + std::to_string(in.height()));
  s.height = static_cast<uint8_t>(in.height());
  s.count = in.count();
  s.created_unix_ns = in.created_unix_ns();
  AIFS_ASSIGN_OR_RETURN(s.signature, ParseFixed<64>(in.signature(), "snapshot signature"));
  AIFS_ASSIGN_OR_RETURN(s.public_key, ParseFixed<32>(in.public_key(), "snapshot public key"));
  s.explicit_set = in.explicit_set();
  if (in.version() > 255)
    return err::InvalidArgument("BAD_FIELD", "snapshot version " + std::to_string(in.version()));
  s.version = static_cast<uint8_t>(std::max<uint32_t>(in.version(), 1));
  if (s.version < 2) return s;  // no path tree (its fields stay zero)
  AIFS_ASSIGN_OR_RETURN(s.path_root, ParseFixed<32>(in.path_root(), "snapshot path root"));
  if (in.path_height() > 255)
    return err::InvalidArgument("BAD_FIELD",
                                "path tree height " + std::to_string(in.path_height()));
  s.path_height = static_cast<uint8_t>(in.path_height());
  s.path_count = in.path_count();
  s.message = in.message();
  s.author = in.author();
  for (const std::string& p : in.parents()) {
    AIFS_ASSIGN_OR_RETURN(SnapshotId id, ParseSnapshotId(p));
    s.parents.push_back(id);
  }
  return s;
}

void ToProto(const SnapshotProof& in, v1::Proof* out) {
  ToProto(in.snapshot, out->mutable_snapshot());
  out->set_asset(Raw(in.asset.bytes()));
  for (const auto& n : in.nodes) out->add_nodes(n);
  if (in.path) out->set_path(*in.path);
}

Result<SnapshotProof> FromProto(const v1::Proof& in) {
  SnapshotProof p;
  AIFS_ASSIGN_OR_RETURN(p.snapshot, FromProto(in.snapshot()));
  AIFS_ASSIGN_OR_RETURN(p.asset, ParseAssetId(in.asset()));
  p.nodes.assign(in.nodes().begin(), in.nodes().end());
  if (in.has_path()) p.path = in.path();
  return p;
}

void ToProto(const SnapshotDiff& in, v1::DiffSnapshotsResponse* out) {
  for (const AssetId& id : in.added) out->add_added(Raw(id.bytes()));
  for (const AssetId& id : in.removed) out->add_removed(Raw(id.bytes()));
  for (const PathChange& c : in.paths) {
    auto* p = out->add_paths();
    p->set_path(c.path);
    p->set_before(RawOpt(c.before));
    p->set_after(RawOpt(c.after));
  }
}

Result<SnapshotDiff> FromProto(const v1::DiffSnapshotsResponse& in) {
  SnapshotDiff d;
  AIFS_ASSIGN_OR_RETURN(d.added, AssetIds(in.added()));
  AIFS_ASSIGN_OR_RETURN(d.removed, AssetIds(in.removed()));
  for (const auto& p : in.paths()) {
    PathChange c{p.path(), {}, {}};
    AIFS_ASSIGN_OR_RETURN(c.before, ParseOptionalAsset(p.before()));
    AIFS_ASSIGN_OR_RETURN(c.after, ParseOptionalAsset(p.after()));
    d.paths.push_back(std::move(c));
  }
  return d;
}

void ToProto(const MergeOptions& in, v1::MergeRequest* out) {
  out->set_ns(in.ns);
  out->set_source(in.source);
  out->set_into(in.into);
  out->set_strategy(static_cast<v1::MergeStrategy>(in.strategy));
  out->set_message(in.message);
  out->set_author(in.author);
}

MergeOptions FromProto(const v1::MergeRequest& in) {
  MergeOptions o;
  o.ns = in.ns();
  o.source = in.source();
  o.into = in.into();
  o.strategy = in.strategy() == v1::MERGE_OURS     ? MergeStrategy::kOurs
               : in.strategy() == v1::MERGE_THEIRS ? MergeStrategy::kTheirs
                                                   : MergeStrategy::kFail;
  o.message = in.message();
  o.author = in.author();
  return o;
}

void ToProto(const MergeReport& in, v1::MergeResponse* out) {
  if (in.snapshot) ToProto(*in.snapshot, out->mutable_snapshot());
  if (in.base) out->set_base(Raw(in.base->bytes()));
  out->set_fast_forward(in.fast_forward);
  out->set_up_to_date(in.up_to_date);
  out->set_paths_changed(in.paths_changed);
  for (const PathConflict& c : in.conflicts) {
    auto* p = out->add_conflicts();
    p->set_path(c.path);
    p->set_base(RawOpt(c.base));
    p->set_ours(RawOpt(c.ours));
    p->set_theirs(RawOpt(c.theirs));
  }
}

Result<MergeReport> FromProto(const v1::MergeResponse& in) {
  MergeReport r;
  if (in.has_snapshot()) {
    AIFS_ASSIGN_OR_RETURN(r.snapshot, FromProto(in.snapshot()));
  }
  if (!in.base().empty()) {
    AIFS_ASSIGN_OR_RETURN(r.base, ParseSnapshotId(in.base()));
  }
  r.fast_forward = in.fast_forward();
  r.up_to_date = in.up_to_date();
  r.paths_changed = in.paths_changed();
  for (const auto& p : in.conflicts()) {
    PathConflict c{p.path(), {}, {}, {}};
    AIFS_ASSIGN_OR_RETURN(c.base, ParseOptionalAsset(p.base()));
    AIFS_ASSIGN_OR_RETURN(c.ours, ParseOptionalAsset(p.ours()));
    AIFS_ASSIGN_OR_RETURN(c.theirs, ParseOptionalAsset(p.theirs()));
    r.conflicts.push_back(std::move(c));
  }
  return r;
}

void ToProto(const BranchInfo& in, v1::Branch* out) {
  out->set_name(in.name);
  out->set_snapshot(Raw(in.snapshot.bytes()));
  out->set_updated_unix_ns(in.updated_unix_ns);
  out->set_updated_by(in.updated_by);
  out->set_moves(in.moves);
}

Result<BranchInfo> FromProto(const v1::Branch& in) {
  BranchInfo b;
  b.name = in.name();
  AIFS_ASSIGN_OR_RETURN(b.snapshot, ParseSnapshotId(in.snapshot()));
  b.updated_unix_ns = in.updated_unix_ns();
  b.updated_by = in.updated_by();
  b.moves = in.moves();
  return b;
}

void ToProto(const BranchMoveInfo& in, v1::BranchMove* out) {
  out->set_old_snapshot(RawOpt(in.old_snapshot));
  out->set_new_snapshot(RawOpt(in.new_snapshot));
  out->set_unix_ns(in.unix_ns);
  out->set_who(in.who);
}

Result<BranchMoveInfo> FromProto(const v1::BranchMove& in) {
  BranchMoveInfo m;
  AIFS_ASSIGN_OR_RETURN(m.old_snapshot, ParseOptionalSnapshot(in.old_snapshot()));
  AIFS_ASSIGN_OR_RETURN(m.new_snapshot, ParseOptionalSnapshot(in.new_snapshot()));
  m.unix_ns = in.unix_ns();
  m.who = in.who();
  return m;
}

void ToProto(const TagInfo& in, v1::Tag* out) {
  out->set_name(in.name);
  out->set_snapshot(Raw(in.snapshot.bytes()));
  out->set_created_unix_ns(in.created_unix_ns);
  out->set_created_by(in.created_by);
}

Result<TagInfo> FromProto(const v1::Tag& in) {
  TagInfo t;
  t.name = in.name();
  AIFS_ASSIGN_OR_RETURN(t.snapshot, ParseSnapshotId(in.snapshot()));
  t.created_unix_ns = in.created_unix_ns();
  t.created_by = in.created_by();
  return t;
}

void ToProto(const Event& in, v1::Event* out) {
  out->set_seq(in.seq);
  out->set_type(static_cast<v1::EventType>(in.type));
  out->set_unix_ns(in.unix_ns);
  out->set_ns(in.ns);
  out->set_asset(RawOpt(in.asset));
  out->set_parent(RawOpt(in.parent));
  out->set_snapshot(RawOpt(in.snapshot));
  out->set_old_snapshot(RawOpt(in.old_snapshot));
  out->set_name(in.name);
  out->set_who(in.who);
  out->set_detail(in.detail);
}

Result<Event> FromProto(const v1::Event& in) {
  Event e;
  e.seq = in.seq();
  if (in.type() == v1::EVENT_TYPE_UNSPECIFIED || !v1::EventType_IsValid(in.type()))
    return err::InvalidArgument("UNKNOWN_EVENT_TYPE", "event type " + std::to_string(in.type()));
  e.type = static_cast<EventType>(in.type());
  e.unix_ns = in.unix_ns();
  e.ns = in.ns();
  AIFS_ASSIGN_OR_RETURN(e.asset, ParseOptionalAsset(in.asset()));
  AIFS_ASSIGN_OR_RETURN(e.parent, ParseOptionalAsset(in.parent()));
  AIFS_ASSIGN_OR_RETURN(e.snapshot, ParseOptionalSnapshot(in.snapshot()));
  AIFS_ASSIGN_OR_RETURN(e.old_snapshot, ParseOptionalSnapshot(in.old_snapshot()));
  e.name = in.name();
  e.who = in.who();
  e.detail = in.detail();
  return e;
}

void ToProto(const EventQuery& in, v1::SubscribeEventsRequest* out) {
  out->set_ns(in.ns);
  for (EventType t : in.types) out->add_types(static_cast<v1::EventType>(t));
  out->set_after(in.after);
  out->set_follow(in.follow);
}

Result<EventQuery> FromProto(const v1::SubscribeEventsRequest& in) {
  EventQuery q;
  q.ns = in.ns();
  for (int t : in.types()) {
    if (t == v1::EVENT_TYPE_UNSPECIFIED || !v1::EventType_IsValid(t))
      return err::InvalidArgument("UNKNOWN_EVENT_TYPE", "event type " + std::to_string(t));
    q.types.push_back(static_cast<EventType>(t));
  }
  q.after = in.after();
  q.follow = in.follow();
  return q;
}

void ToProto(const NamespacePolicy& in, v1::NamespacePolicy* out) {
  out->set_max_logical_bytes(in.max_logical_bytes);
  out->set_max_assets(in.max_assets);
  if (in.zstd_level) out->set_zstd_level(*in.zstd_level);
  out->set_keep_snapshots(in.keep_snapshots);
  out->set_keep_snapshot_seconds(in.keep_snapshot_seconds);
  out->set_keep_daily(in.keep_daily);
  out->set_keep_weekly(in.keep_weekly);
  out->set_keep_monthly(in.keep_monthly);
  out->set_kms_key_id(in.kms_key_id);
  out->set_quarantine_embeddings(in.quarantine_embeddings);
  out->set_segment_size(in.segment_size);
  if (in.privacy == PrivacyPolicy{}) return;
  ToProto(in.privacy, out->mutable_privacy());
}

void ToProto(const PrivacyPolicy& in, v1::PrivacyPolicy* out) {
  out->set_total_epsilon_micros(in.total_epsilon_micros);
  out->set_max_query_epsilon_micros(in.max_query_epsilon_micros);
  out->set_total_delta_picos(in.total_delta_picos);
  out->set_max_query_delta_picos(in.max_query_delta_picos);
  out->set_unit_key(in.unit_key);
  out->set_max_contributions(in.max_contributions);
  for (const PrivacyField& f : in.fields) {
    auto* o = out->add_fields();
    o->set_field(f.field);
    o->set_lower(f.lower);
    o->set_upper(f.upper);
    o->set_decimals(f.decimals);
  }
}

PrivacyPolicy FromProto(const v1::PrivacyPolicy& in) {
  PrivacyPolicy p;
  p.total_epsilon_micros = in.total_epsilon_micros();
  p.max_query_epsilon_micros = in.max_query_epsilon_micros();
  p.total_delta_picos = in.total_delta_picos();
  p.max_query_delta_picos = in.max_query_delta_picos();
  p.unit_key = in.unit_key();
  p.max_contributions = in.max_contributions();
  for (const auto& f : in.fields())
    p.fields.push_back(
        {.field = f.field(), .lower = f.lower(), .upper = f.upper(), .decimals = f.decimals()});
  return p;
}

NamespacePolicy FromProto(const v1::NamespacePolicy& in) {
  NamespacePolicy p;
  p.max_logical_bytes = in.max_logical_bytes();
  p.max_assets = in.max_assets();
  if (in.has_zstd_level()) p.zstd_level = in.zstd_level();
  p.keep_snapshots = in.keep_snapshots();
  p.keep_snapshot_seconds = in.keep_snapshot_seconds();
  p.keep_daily = in.keep_daily();
  p.keep_weekly = in.keep_weekly();
  p.keep_monthly = in.keep_monthly();
  p.kms_key_id = in.kms_key_id();
  p.quarantine_embeddings = in.quarantine_embeddings();
  p.segment_size = in.segment_size();
  p.privacy = FromProto(in.privacy());
  return p;
}

void ToProto(const PruneOptions& in, v1::PruneSnapshotsRequest* out) {
  if (in.keep_snapshots) out->set_keep_snapshots(*in.keep_snapshots);
  if (in.keep_snapshot_seconds) out->set_keep_snapshot_seconds(*in.keep_snapshot_seconds);
  out->set_dry_run(in.dry_run);
  if (in.keep_daily) out->set_keep_daily(*in.keep_daily);
  if (in.keep_weekly) out->set_keep_weekly(*in.keep_weekly);
  if (in.keep_monthly) out->set_keep_monthly(*in.keep_monthly);
}

PruneOptions FromProto(const v1::PruneSnapshotsRequest& in) {
  PruneOptions o;
  if (in.has_keep_snapshots()) o.keep_snapshots = in.keep_snapshots();
  if (in.has_keep_snapshot_seconds()) o.keep_snapshot_seconds = in.keep_snapshot_seconds();
  o.dry_run = in.dry_run();
  if (in.has_keep_daily()) o.keep_daily = in.keep_daily();
  if (in.has_keep_weekly()) o.keep_weekly = in.keep_weekly();
  if (in.has_keep_monthly()) o.keep_monthly = in.keep_monthly();
  return o;
}

void ToProto(const PruneReport& in, v1::PruneSnapshotsResponse* out) {
  out->set_dry_run(in.dry_run);
  for (const SnapshotId& id : in.removed) out->add_removed(Raw(id.bytes()));
  out->set_kept(in.kept);
  out->set_nodes_removed(in.nodes_removed);
  out->set_node_bytes_removed(in.node_bytes_removed);
  for (const RetentionDecision& d : in.decisions) {
    auto* o = out->add_decisions();
    o->set_snapshot(Raw(d.snapshot.bytes()));
    o->set_created_unix_ns(d.created_unix_ns);
    o->set_keep(d.keep);
    for (const std::string& why : d.reasons) o->add_reasons(why);
  }
}

Result<PruneReport> FromProto(const v1::PruneSnapshotsResponse& in) {
  PruneReport r;
  r.dry_run = in.dry_run();
  for (const std::string& b : in.removed()) {
    AIFS_ASSIGN_OR_RETURN(SnapshotId id, ParseSnapshotId(b));
    r.removed.push_back(id);
  }
  r.kept = in.kept();
  r.nodes_removed = in.nodes_removed();
  r.node_bytes_removed = in.node_bytes_removed();
  for (const v1::RetentionDecision& d : in.decisions()) {
    AIFS_ASSIGN_OR_RETURN(SnapshotId id, ParseSnapshotId(d.snapshot()));
    r.decisions.push_back(
        {id, d.created_unix_ns(), d.keep(), {d.reasons().begin(), d.reasons().end()}});
  }
  return r;
}

void ToProto(const FormatStep& in, v1::FormatStep* out) {
  out->set_name(in.name);
  out->set_state(in.state);
  out->set_detail(in.detail);
}

FormatStep FromProto(const v1::FormatStep& in) { return {in.name(), in.state(), in.detail()}; }

void ToProto(const FormatReport& in, v1::FormatReport* out) {
  out->set_unix_ns(in.unix_ns);
  out->set_who(in.who);
  out->set_dry_run(in.dry_run);
  for (const FormatStep& s : in.steps) ToProto(s, out->add_steps());
  out->set_root_snapshot(RawOpt(in.root_snapshot));
}

Result<FormatReport> FromProto(const v1::FormatReport& in) {
  FormatReport r;
  r.unix_ns = in.unix_ns();
  r.who = in.who();
  r.dry_run = in.dry_run();
  for (const auto& s : in.steps()) r.steps.push_back(FromProto(s));
  AIFS_ASSIGN_OR_RETURN(r.root_snapshot, ParseOptionalSnapshot(in.root_snapshot()));
  return r;
}

void ToProto(const EmbeddingSpace& in, v1::EmbeddingSpace* out) {
  out->set_name(in.name);
  out->set_dim(in.dim);
  out->set_metric(static_cast<v1::Metric>(in.metric));
  out->set_vectors(in.vectors);
  out->set_pending(in.pending);
}

Result<EmbeddingSpace> FromProto(const v1::EmbeddingSpace& in) {
  if (!v1::Metric_IsValid(in.metric()))
    return err::InvalidArgument("UNKNOWN_METRIC", "metric " + std::to_string(in.metric()));
  return EmbeddingSpace{in.name(), in.dim(), static_cast<VectorMetric>(in.metric()),
                        in.vectors(), in.pending()};
}

void ToProto(const VectorQuery& in, v1::VectorSearchRequest* out) {
  out->set_ns(in.ns);
  out->set_space(in.space);
  out->mutable_vector()->Add(in.vector.begin(), in.vector.end());
  out->set_like(RawOpt(in.like));
  out->set_k(static_cast<uint32_t>(std::min<size_t>(in.k, UINT32_MAX)));
  out->set_ef(static_cast<uint32_t>(std::min<size_t>(in.ef, UINT32_MAX)));
  ToAll(in.filters, out->mutable_filters());
  out->set_as_of(in.as_of);
  out->set_text(in.text);
  out->set_embed_with(in.embed_with);
}

Result<VectorQuery> FromProto(const v1::VectorSearchRequest& in) {
  VectorQuery q;
  q.ns = in.ns();
  q.space = in.space();
  q.vector.assign(in.vector().begin(), in.vector().end());
  AIFS_ASSIGN_OR_RETURN(q.like, ParseOptionalAsset(in.like()));
  q.k = in.k();
  q.ef = in.ef();
  AIFS_ASSIGN_OR_RETURN(q.filters, FromAll<MetaFilter>(in.filters()));
  q.as_of = in.as_of();
  q.text = in.text();
  q.embed_with = in.embed_with();
  return q;
}

void ToProto(const VectorResult& in, v1::VectorSearchResponse* out) {
  for (const VectorHit& h : in.hits) {
    auto* hit = out->add_hits();
    hit->set_id(Raw(h.id.bytes()));
    hit->set_score(h.score);
    hit->set_source(RawOpt(h.source));
    if (h.source_range) {
      hit->set_source_offset(h.source_range->offset);
      hit->set_source_length(h.source_range->length);
    }
  }
  out->set_plan(in.plan);
  out->set_space(in.space);
}

Result<VectorResult> FromProto(const v1::VectorSearchResponse& in) {
  VectorResult r;
  for (const auto& h : in.hits()) {
    AIFS_ASSIGN_OR_RETURN(AssetId id, ParseAssetId(h.id()));
    AIFS_ASSIGN_OR_RETURN(auto source, ParseOptionalAsset(h.source()));
    std::optional<ReadRange> range;
    if (h.has_source_offset() && h.has_source_length())
      range = ReadRange{h.source_offset(), h.source_length()};
    r.hits.push_back({id, h.score(), source, range});
  }
  r.plan = in.plan();
  r.space = in.space();
  return r;
}

void ToProto(const PendingEmbedding& in, v1::PendingEmbedding* out) {
  out->set_id(Raw(in.id.bytes()));
  out->set_space(in.space);
}

Result<PendingEmbedding> FromProto(const v1::PendingEmbedding& in) {
  AIFS_ASSIGN_OR_RETURN(AssetId id, ParseAssetId(in.id()));
  return PendingEmbedding{id, in.space()};
}

void ToProto(const EmbeddingReview& in, v1::ReviewEmbeddingsRequest* out) {
  out->set_ns(in.ns);
  out->set_space(in.space);
  for (const AssetId& id : in.ids) out->add_ids(Raw(id.bytes()));
  out->set_approve(in.approve);
}

Result<EmbeddingReview> FromProto(const v1::ReviewEmbeddingsRequest& in) {
  EmbeddingReview r{in.ns(), in.space(), {}, in.approve()};
  for (const auto& raw : in.ids()) {
    AIFS_ASSIGN_OR_RETURN(AssetId id, ParseAssetId(raw));
    r.ids.push_back(id);
  }
  return r;
}

void ToProto(const GcReport& in, v1::CollectGarbageResponse* out) {
  out->set_dry_run(in.dry_run);
  out->set_objects_scanned(in.objects_scanned);
  out->set_orphan_objects(in.orphan_objects);
  out->set_orphan_bytes(in.orphan_bytes);
  out->set_reclaimed_objects(in.reclaimed_objects);
  out->set_assets_released(in.assets_released);
  out->set_chunks_released(in.chunks_released);
  out->set_bytes_released(in.bytes_released);
  out->set_assets_retained(in.assets_retained);
  out->set_objects_leased(in.objects_leased);
  out->set_leases_revoked(in.leases_revoked);
  out->set_packs_rewritten(in.packs_rewritten);
  out->set_pack_bytes_freed(in.pack_bytes_freed);
}

GcReport FromProto(const v1::CollectGarbageResponse& in) {
  return GcReport{in.dry_run(),         in.objects_scanned(),   in.orphan_objects(),
                  in.orphan_bytes(),    in.reclaimed_objects(), in.assets_released(),
                  in.chunks_released(), in.bytes_released(),    in.assets_retained(),
                  in.objects_leased(),  in.leases_revoked(),    in.packs_rewritten(),
                  in.pack_bytes_freed()};
}

void ToProto(const MetadataCheck& in, v1::CheckMetadataResponse* out) {
  out->set_meta_url(in.meta_url);
  out->set_sequence(in.sequence);
  out->set_high_water(in.high_water);
  out->set_files_checked(in.files_checked);
  out->set_bytes_checked(in.bytes_checked);
  out->set_not_checked(in.not_checked);
}

MetadataCheck FromProto(const v1::CheckMetadataResponse& in) {
  return MetadataCheck{in.meta_url(),      in.sequence(),      in.high_water(),
                       in.files_checked(), in.bytes_checked(), in.not_checked()};
}

void ToProto(const BackupReport& in, v1::BackupResponse* out) {
  out->set_dir(in.dir);
  out->set_sequence(in.sequence);
  out->set_files(in.files);
  out->set_bytes(in.bytes);
  out->set_keys_included(in.keys_included);
}

BackupReport FromProto(const v1::BackupResponse& in) {
  return BackupReport{in.dir(), in.sequence(), in.files(), in.bytes(), in.keys_included()};
}

void ToProto(const RewrapReport& in, v1::RewrapKeysResponse* out) {
  out->set_target_key(in.target_key);
  out->set_resumed(in.resumed);
  out->set_complete(in.complete);
  out->set_chunks_scanned(in.chunks_scanned);
  out->set_chunks_rewrapped(in.chunks_rewrapped);
  out->set_namespaces_rewrapped(in.namespaces_rewrapped);
  out->set_root_keys_rewrapped(in.root_keys_rewrapped);
  out->set_records_resealed(in.records_resealed);
  out->set_vectors_resealed(in.vectors_resealed);
  out->set_compacted(in.compacted);
}

RewrapReport FromProto(const v1::RewrapKeysResponse& in) {
  return RewrapReport{.target_key = in.target_key(),
                      .resumed = in.resumed(),
                      .complete = in.complete(),
                      .chunks_scanned = in.chunks_scanned(),
                      .chunks_rewrapped = in.chunks_rewrapped(),
                      .namespaces_rewrapped = in.namespaces_rewrapped(),
                      .root_keys_rewrapped = in.root_keys_rewrapped(),
                      .records_resealed = in.records_resealed(),
                      .vectors_resealed = in.vectors_resealed(),
                      .compacted = in.compacted()};
}

void ToProto(const TokenKeyring& in, v1::ListTokenKeysResponse* out) {
  for (const TokenRootKey& k : in.keys) {
    v1::TokenRootKey* p = out->add_keys();
    p->set_id(k.id);
    p->set_created_unix_ns(k.created_unix_ns);
    p->set_revoked(k.revoked);
    p->set_current(k.current);
    p->set_kms_key_id(k.kms_key_id);
  }
  for (const RevokedTokenId& r : in.revoked_tokens) {
    v1::RevokedToken* p = out->add_revoked_tokens();
    p->set_token_id(r.token_id);
    p->set_revoked_unix_ns(r.revoked_unix_ns);
  }
}

TokenKeyring FromProto(const v1::ListTokenKeysResponse& in) {
  TokenKeyring out;
  for (const v1::TokenRootKey& k : in.keys())
    out.keys.push_back({k.id(), k.created_unix_ns(), k.revoked(), k.current(), k.kms_key_id()});
  for (const v1::RevokedToken& r : in.revoked_tokens())
    out.revoked_tokens.push_back({r.token_id(), r.revoked_unix_ns()});
  return out;
}

void ToProto(const StoreDescription& in, v1::StoreInfo* out) {
  out->set_store_id(in.store_id);
  out->set_data_dir(in.data_dir);
  out->set_meta_url(in.meta_url);
  out->set_chunk_url(in.chunk_url);
  out->set_kms_kind(in.kms_kind);
  out->set_kms_current_key(in.kms_current_key);
  out->set_chunk_min(in.chunk_min);
  out->set_chunk_avg(in.chunk_avg);
  out->set_chunk_max(in.chunk_max);
  out->set_zstd_level(in.zstd_level);
  out->set_read_only(in.read_only);
}

StoreDescription FromProto(const v1::StoreInfo& in) {
  StoreDescription d;
  d.store_id = in.store_id();
  d.http_url = in.http_url();
  d.data_dir = in.data_dir();
  d.meta_url = in.meta_url();
  d.chunk_url = in.chunk_url();
  d.kms_kind = in.kms_kind();
  d.kms_current_key = in.kms_current_key();
  d.chunk_min = in.chunk_min();
  d.chunk_avg = in.chunk_avg();
  d.chunk_max = in.chunk_max();
  d.zstd_level = in.zstd_level();
  d.read_only = in.read_only();
  return d;
}

void ToProto(const AggregateQuery& in, v1::AggregateRequest* out) {
  out->set_ns(in.ns);
  out->set_kind(static_cast<v1::AggregateKind>(in.kind));
  out->set_field(in.field);
  ToAll(in.filters, out->mutable_filters());
  if (in.asset_kind) out->set_asset_kind(static_cast<v1::AssetKind>(*in.asset_kind));
  out->set_as_of(in.as_of);
  out->set_epsilon_micros(in.epsilon_micros);
  out->set_bins(in.bins);
  if (in.lower) out->set_lower(*in.lower);
  if (in.upper) out->set_upper(*in.upper);
  for (double q : in.quantiles) out->add_quantiles(q);
  out->set_who(in.who);
  out->set_mechanism(static_cast<v1::NoiseMechanism>(in.mechanism));
  out->set_delta_picos(in.delta_picos);
}

Result<AggregateQuery> FromProto(const v1::AggregateRequest& in) {
  AggregateQuery q;
  q.ns = in.ns();
  if (in.kind() < v1::AGGREGATE_KIND_COUNT || in.kind() > v1::AGGREGATE_KIND_QUANTILES)
    return err::InvalidArgument("BAD_AGGREGATE", "unknown aggregate " + std::to_string(in.kind()));
  q.kind = static_cast<AggregateKind>(in.kind());
  q.field = in.field();
  AIFS_ASSIGN_OR_RETURN(q.filters, FromAll<MetaFilter>(in.filters()));
  if (in.asset_kind() != v1::ASSET_KIND_UNSPECIFIED) {
    AIFS_ASSIGN_OR_RETURN(q.asset_kind, ParseKind(in.asset_kind(), false));
  }
  q.as_of = in.as_of();
  q.epsilon_micros = in.epsilon_micros();
  q.bins = in.bins();
  if (in.has_lower()) q.lower = in.lower();
  if (in.has_upper()) q.upper = in.upper();
  q.quantiles.assign(in.quantiles().begin(), in.quantiles().end());
  q.who = in.who();
  if (in.mechanism() != v1::NOISE_MECHANISM_LAPLACE &&
      in.mechanism() != v1::NOISE_MECHANISM_GAUSSIAN)
    return err::InvalidArgument("BAD_MECHANISM",
                                "unknown noise mechanism " + std::to_string(in.mechanism()));
  q.mechanism = static_cast<NoiseMechanism>(in.mechanism());
  q.delta_picos = in.delta_picos();
  return q;  // the spender is the server's caller, never the request's
}

void ToProto(const AggregateAnswer& in, v1::AggregateResponse* out) {
  out->set_kind(static_cast<v1::AggregateKind>(in.kind));
  out->set_noisy(in.noisy);
  out->set_count(in.count);
  out->set_value(in.value);
  for (const HistogramBin& b : in.bins) {
    auto* o = out->add_bins();
    o->set_lower(b.lower);
    o->set_upper(b.upper);
    o->set_count(b.count);
  }
  for (const auto& [q, v] : in.quantiles) {
    auto* o = out->add_quantiles();
    o->set_q(q);
    o->set_value(v);
  }
  out->set_epsilon_micros(in.epsilon_micros);
  out->set_remaining_micros(in.remaining_micros);
  out->set_mechanism(in.mechanism);
  out->set_charge_seq(in.charge_seq);
  out->set_delta_picos(in.delta_picos);
  out->set_remaining_delta_picos(in.remaining_delta_picos);
}

AggregateAnswer FromProto(const v1::AggregateResponse& in) {
  AggregateAnswer a;
  a.kind = static_cast<AggregateKind>(in.kind());
  a.noisy = in.noisy();
  a.count = in.count();
  a.value = in.value();
  for (const auto& b : in.bins()) a.bins.push_back({b.lower(), b.upper(), b.count()});
  for (const auto& q : in.quantiles()) a.quantiles.emplace_back(q.q(), q.value());
  a.epsilon_micros = in.epsilon_micros();
  a.remaining_micros = in.remaining_micros();
  a.mechanism = in.mechanism();
  a.charge_seq = in.charge_seq();
  a.delta_picos = in.delta_picos();
  a.remaining_delta_picos = in.remaining_delta_picos();
  return a;
}

void ToProto(const PrivacyLedgerView& in, v1::PrivacyLedger* out) {
  ToProto(in.policy, out->mutable_policy());
  out->set_spent_micros(in.spent_micros);
  out->set_remaining_micros(in.remaining_micros);
  out->set_queries(in.queries);
  out->set_spent_delta_picos(in.spent_delta_picos);
  out->set_remaining_delta_picos(in.remaining_delta_picos);
  for (const PrivacyChargeInfo& c : in.charges) {
    auto* o = out->add_charges();
    o->set_seq(c.seq);
    o->set_unix_ns(c.unix_ns);
    o->set_who(c.who);
    o->set_caller(c.caller);
    o->set_query(c.query);
    o->set_epsilon_micros(c.epsilon_micros);
    o->set_delta_picos(c.delta_picos);
    o->set_mechanism(c.mechanism);
  }
}

PrivacyLedgerView FromProto(const v1::PrivacyLedger& in) {
  PrivacyLedgerView v;
  v.policy = FromProto(in.policy());
  v.spent_micros = in.spent_micros();
  v.remaining_micros = in.remaining_micros();
  v.queries = in.queries();
  v.spent_delta_picos = in.spent_delta_picos();
  v.remaining_delta_picos = in.remaining_delta_picos();
  for (const auto& c : in.charges())
    v.charges.push_back({.seq = c.seq(),
                         .unix_ns = c.unix_ns(),
                         .who = c.who(),
                         .caller = c.caller(),
                         .query = c.query(),
                         .epsilon_micros = c.epsilon_micros(),
                         .delta_picos = c.delta_picos(),
                         .mechanism = c.mechanism()});
  return v;
}

}  // namespace aifs::rpc
