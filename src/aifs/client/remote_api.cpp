#include "aifs/client/remote_api.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <mutex>

#include "aifs/client/bearer_token.h"
#include "aifs/client/read_stream_pool.h"
#include "aifs/core/blake3.h"
#include "aifs/core/file_util.h"
#include "aifs/core/utf8.h"
#include "aifs/rpc/convert.h"
#include "aifs/rpc/frames.h"
#include "aifs/rpc/operator_convert.h"
#include "aifs/rpc/range_frames.h"
#include "aifs/rpc/status_codec.h"
#include "aifs/v1/aifs.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace aifs {

namespace {

using rpc::FromGrpc;
using rpc::FromProto;
using rpc::ToProto;

// The stubs and what the server agreed to, shared by the Api and the writers
// and transactions it hands out (which may outlive nothing but need them).
struct Connection {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Aifs::Stub> aifs;
  std::unique_ptr<v1::Admin::Stub> admin;
  std::unique_ptr<v1::Introspect::Stub> introspect;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
  bool zstd = false;    // data frames may be zstd both ways
  bool stored = false;  // reads take segments as stored (RemoteOptions::stored_reads)
  // Batched reads on open streams (RemoteOptions::read_streams); null: calls.
  // Declared after the stubs: its streams go first.
  std::unique_ptr<ReadStreamPool> read_streams;

  // Data messages of puts, each with a frame of kMaxFrameBytes, kept for the
  // next puts: fresh memory per message cost a large put half its time (page
  // faults), and a fresh frame per small put a 1 MiB memset.
  std::unique_ptr<v1::PutAssetRequest> TakePutMessage() {
    {
      std::lock_guard lock(put_messages_mu);
      if (!put_messages.empty()) {
        auto msg = std::move(put_messages.back());
        put_messages.pop_back();
        return msg;
      }
    }
    auto msg = std::make_unique<v1::PutAssetRequest>();
    msg->mutable_data()->mutable_data()->resize(rpc::kMaxFrameBytes);
    return msg;
  }
  void GivePutMessage(std::unique_ptr<v1::PutAssetRequest> msg) {
    constexpr size_t kKept = 8;  // put -r's default parallelism
    std::lock_guard lock(put_messages_mu);
    if (put_messages.size() < kKept) put_messages.push_back(std::move(msg));
  }
  std::mutex put_messages_mu;
  std::vector<std::unique_ptr<v1::PutAssetRequest>> put_messages;
};

// One unary call: a fresh context, the server's Status back.
template <typename Stub, typename Req, typename Resp>
Status Call(Stub& stub,
            grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
            const Req& req, Resp* resp, Metadata* error_info = nullptr) {
  grpc::ClientContext ctx;
  return FromGrpc((stub.*method)(&ctx, req, resp), error_info);
}

// Streams a put: bytes are gathered into frames of up to 1 MiB, so callers
// may write any split without flooding the wire with tiny messages.
class RemoteWriter final : public AssetWriter {
 public:
  RemoteWriter(std::shared_ptr<Connection> conn, const v1::PutHeader& header)
      : conn_(std::move(conn)),
        encoder_(conn_->zstd),
        msg_(conn_->TakePutMessage()),
        gathered_(msg_->mutable_data()->mutable_data()) {
    stream_ = conn_->aifs->PutAsset(&ctx_, &response_);
    v1::PutAssetRequest msg;
    *msg.mutable_header() = header;
    broken_ = !stream_->Write(msg);
  }

  ~RemoteWriter() override {
    if (!finished_) {
      ctx_.TryCancel();  // the server aborts the put: nothing becomes visible
      (void)stream_->Finish();
    }
    conn_->GivePutMessage(std::move(msg_));  // its frame is whole again after every send
  }

  Status Write(ByteSpan data) override {
    if (finished_) return err::FailedPrecondition("WRITER_CLOSED", "the put has finished");
    while (!data.empty()) {
      const size_t n = std::min(data.size(), rpc::kMaxFrameBytes - filled_);
      std::copy_n(data.data(), n, Room().data());
      data = data.subspan(n);
      AIFS_RETURN_IF_ERROR(Accept(n));
    }
    return Status::Ok();
  }

  // The source fills the frame itself: no copy between it and the message.
  Status WriteFrom(const FillFn& fill) override {
    if (finished_) return err::FailedPrecondition("WRITER_CLOSED", "the put has finished");
    for (;;) {
      const MutableByteSpan room = Room();
      AIFS_ASSIGN_OR_RETURN(const size_t n, fill(room));
      if (n == 0) return Status::Ok();
      if (n > room.size()) return err::Internal("FILL_OVERRUN", "a source wrote past its buffer");
      AIFS_RETURN_IF_ERROR(Accept(n));
    }
  }

  Result<PutResult> Commit() override {
    if (finished_) return err::FailedPrecondition("WRITER_CLOSED", "the put has finished");
    Status st = filled_ == 0 ? Status::Ok() : Flush();
    if (st.ok() && !broken_) {
      v1::PutAssetRequest msg;
      msg.mutable_finish();
      broken_ = !stream_->Write(msg);
      if (!broken_) stream_->WritesDone();
    }
    if (!st.ok() && !broken_) return st;
    AIFS_RETURN_IF_ERROR(End());
    return FromProto(response_);
  }

 private:
  // The unfilled rest of the frame.
  MutableByteSpan Room() {
    return MutableByteSpan(reinterpret_cast<uint8_t*>(gathered_->data()) + filled_,
                           rpc::kMaxFrameBytes - filled_);
  }

  // `n` more bytes are in the frame; a full frame is sent.
  Status Accept(size_t n) {
    filled_ += n;
    return filled_ == rpc::kMaxFrameBytes ? Flush() : Status::Ok();
  }

  Status Flush() {
    if (broken_) return Broken();
    gathered_->resize(filled_);
    encoder_.EncodeInPlace(msg_->mutable_data());
    const bool sent = stream_->Write(*msg_, grpc::WriteOptions().set_no_compression());
    gathered_->resize(rpc::kMaxFrameBytes);  // within its capacity: no new memory
    filled_ = 0;
    if (!sent) {
      broken_ = true;
      return Broken();
    }
    return Status::Ok();
  }

  // The server ended the call early; its status says why.
  Status Broken() {
    Status why = End();
    return why.ok() ? err::Unavailable("PUT_STREAM_BROKEN", "the put stream broke") : why;
  }

  // Finishes the call once and returns the server's verdict.
  Status End() {
    if (!finished_) {
      finished_ = true;
      final_ = FromGrpc(stream_->Finish());
    }
    return final_;
  }

  std::shared_ptr<Connection> conn_;
  grpc::ClientContext ctx_;
  v1::PutAssetResponse response_;
  std::unique_ptr<grpc::ClientWriter<v1::PutAssetRequest>> stream_;
  rpc::FrameEncoder encoder_;
  std::unique_ptr<v1::PutAssetRequest> msg_;  // the data message (the connection's)
  std::string* gathered_;         // its frame's bytes: kMaxFrameBytes long between sends
  size_t filled_ = 0;             // of which this many are the put's
  bool broken_ = false;
  bool finished_ = false;
  Status final_;
};

class RemoteTransaction final : public Transaction {
 public:
  RemoteTransaction(std::shared_ptr<Connection> conn, std::string ns, std::string id)
      : conn_(std::move(conn)), ns_(std::move(ns)), id_(std::move(id)) {}

  ~RemoteTransaction() override {
    if (done_) return;
    v1::AbortTransactionRequest req;
    req.set_transaction_id(id_);
    v1::Empty resp;
    (void)Call(*conn_->aifs, &v1::Aifs::Stub::AbortTransaction, req, &resp);
  }

  Result<std::unique_ptr<AssetWriter>> BeginPut(const PutOptions& options) override {
    v1::PutHeader header;
    ToProto(options, &header);
    header.set_transaction_id(id_);
    return std::unique_ptr<AssetWriter>(std::make_unique<RemoteWriter>(conn_, header));
  }

  Result<std::vector<PutResult>> Commit() override {
    done_ = true;
    v1::CommitTransactionRequest req;
    req.set_transaction_id(id_);
    v1::CommitTransactionResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->aifs, &v1::Aifs::Stub::CommitTransaction, req, &resp));
    std::vector<PutResult> out;
    for (const auto& r : resp.assets()) {
      AIFS_ASSIGN_OR_RETURN(PutResult p, FromProto(r));
      out.push_back(std::move(p));
    }
    return out;
  }

 private:
  std::shared_ptr<Connection> conn_;
  std::string ns_;
  std::string id_;
  bool done_ = false;
};

template <typename Out, typename In>
Result<std::vector<Out>> All(const google::protobuf::RepeatedPtrField<In>& in) {
  std::vector<Out> out;
  for (const In& m : in) {
    AIFS_ASSIGN_OR_RETURN(Out v, FromProto(m));
    out.push_back(std::move(v));
  }
  return out;
}

class RemoteApi final : public Api {
 public:
  explicit RemoteApi(std::shared_ptr<Connection> conn) : conn_(std::move(conn)) {}

  Result<NamespaceInfo> CreateNamespace(const std::string& name, const Metadata& labels) override {
    v1::CreateNamespaceRequest req;
    req.set_name(name);
    req.mutable_labels()->insert(labels.begin(), labels.end());
    v1::Namespace resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->admin, &v1::Admin::Stub::CreateNamespace, req, &resp));
    return FromProto(resp);
  }

  Result<std::vector<NamespaceInfo>> ListNamespaces() override {
    v1::ListNamespacesResponse resp;
    AIFS_RETURN_IF_ERROR(
        Call(*aifs(), &v1::Aifs::Stub::ListNamespaces, v1::ListNamespacesRequest(), &resp));
    return All<NamespaceInfo>(resp.namespaces());
  }

  Result<NamespaceInfo> GetNamespace(const std::string& name) override {
    v1::GetNamespaceRequest req;
    req.set_name(name);
    v1::Namespace resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::GetNamespace, req, &resp));
    return FromProto(resp);
  }

  Status DeleteNamespace(const std::string& name) override {
    v1::DeleteNamespaceRequest req;
    req.set_name(name);
    v1::Empty resp;
    return Call(*conn_->admin, &v1::Admin::Stub::DeleteNamespace, req, &resp);
  }

  Result<NamespaceInfo> SetNamespacePolicy(const std::string& name,
                                           const NamespacePolicy& policy) override {
    v1::SetNamespacePolicyRequest req;
    req.set_name(name);
    ToProto(policy, req.mutable_policy());
    v1::Namespace resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->admin, &v1::Admin::Stub::SetNamespacePolicy, req, &resp));
    return FromProto(resp);
  }

  Result<PruneReport> PruneSnapshots(const std::string& ns, const PruneOptions& options) override {
    v1::PruneSnapshotsRequest req;
    ToProto(options, &req);
    req.set_ns(ns);
    v1::PruneSnapshotsResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->admin, &v1::Admin::Stub::PruneSnapshots, req, &resp));
    return FromProto(resp);
  }

  Result<std::unique_ptr<AssetWriter>> BeginPut(const PutOptions& options) override {
    v1::PutHeader header;
    ToProto(options, &header);
    return std::unique_ptr<AssetWriter>(std::make_unique<RemoteWriter>(conn_, header));
  }

  using Api::ReadAsset;
  using Api::StatAsset;
  Result<AssetInfo> StatAssetAt(const std::string& ns, const AssetId& id, const AsOf& as_of,
                                bool with_chunks) override {
    v1::GetAssetRequest req;
    req.set_ns(ns);
    req.set_id(rpc::Raw(id.bytes()));
    req.set_as_of(as_of);
    req.set_with_chunks(with_chunks);
    v1::GetAssetResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::GetAsset, req, &resp));
    return FromProto(resp.asset());
  }

  Status ReadRangesAt(const std::string& ns, const AsOf& as_of, std::span<const RangeRead> ranges,
                      const RangeSink& sink) override {
    // Refused here as the server would: a larger request may not even fit
    // its message limit.
    if (ranges.size() > kMaxBatchRanges)
      return err::InvalidArgument("BATCH_TOO_LARGE", std::to_string(ranges.size()) +
                                                         " ranges in one batch; at most " +
                                                         std::to_string(kMaxBatchRanges));
    v1::ReadRangesRequest req;
    rpc::ToProto(ns, ranges, conn_->zstd, &req);
    req.set_as_of(as_of);
    // A request that would not parse (strings that are not UTF-8) goes as a
    // call: the server answers that REQUEST_MALFORMED, while on a stream it
    // looks like the client's end of the stream.
    if (conn_->read_streams && ValidUtf8(ns) && ValidUtf8(as_of))
      return conn_->read_streams->Read(req, ranges, sink);
    grpc::ClientContext ctx;
    auto stream = conn_->aifs->ReadRanges(&ctx, req);
    rpc::RangeUnpacker unpacker(ranges, sink);
    v1::ReadRangesResponse msg;
    Status failed;
    while (failed.ok() && stream->Read(&msg)) failed = unpacker.Take(msg);
    if (!failed.ok()) ctx.TryCancel();
    Status server = FromGrpc(stream->Finish());
    if (!failed.ok()) return failed;
    return server.ok() ? unpacker.Finish() : server;
  }

  Status ReadAssetAt(const std::string& ns, const AssetId& id, const AsOf& as_of,
                     const ReadRange& range, const ByteSink& sink) override {
    // A small bounded range is one round trip on an open stream: the same
    // rule (get), bytes and errors as a ReadAsset call (messages name it
    // "range 0"). Larger ones keep ReadAsset, whose segments may come as stored.
    if (conn_->read_streams && range.length > 0 && range.length < kStoredReadMinBytes) {
      const RangeRead one{id, range.offset, range.length};
      return ReadRangesAt(ns, as_of, std::span(&one, 1),
                          [&](size_t, ByteSpan data) { return sink(data); });
    }
    v1::ReadAssetRequest req;
    req.set_ns(ns);
    req.set_id(rpc::Raw(id.bytes()));
    req.set_as_of(as_of);
    req.set_offset(range.offset);
    if (range.length != ReadRange::kToEnd) req.set_length(range.length);
    req.set_accept_zstd(conn_->zstd);
    // Segments as stored; the whole-asset check is then this client's.
    req.set_accept_stored(conn_->stored);
    const bool whole = conn_->stored && range.offset == 0 && range.length == ReadRange::kToEnd;
    Blake3 hash;
    grpc::ClientContext ctx;
    auto stream = conn_->aifs->ReadAsset(&ctx, req);
    v1::ReadAssetResponse frame;
    Bytes scratch;
    uint64_t expected = range.offset;
    Status failed;
    while (failed.ok() && stream->Read(&frame)) {
      if (frame.offset() != expected) {
        failed = err::DataLoss("READ_STREAM_GAP", "read stream jumped from offset " +
                                                      std::to_string(expected) + " to " +
                                                      std::to_string(frame.offset()));
        break;
      }
      auto raw = rpc::DecodeFrame(frame.data(), scratch);
      if (!raw.ok()) {
        failed = err::DataLoss("BAD_FRAME", raw.status().message());
        break;
      }
      expected += raw->size();
      if (whole) hash.Update(*raw);
      failed = sink(*raw);
    }
    if (!failed.ok()) ctx.TryCancel();
    Status server = FromGrpc(stream->Finish());
    if (!failed.ok()) return failed;
    if (server.ok() && whole && hash.Finalize() != id.bytes())
      return err::DataLoss("ASSET_CORRUPT", "asset bytes do not hash to the asset ID");
    return server;
  }

  Result<AssetPage> ListAssets(const ListOptions& options) override {
    v1::ListAssetsRequest req;
    ToProto(options, &req);
    v1::ListAssetsResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::ListAssets, req, &resp));
    AssetPage page;
    AIFS_ASSIGN_OR_RETURN(page.assets, All<AssetInfo>(resp.assets()));
    page.next_page_token = resp.next_page_token();
    return page;
  }

  using Api::DeleteAsset;
  Status DeleteAsset(const std::string& ns, const AssetId& id, bool force) override {
    v1::DeleteAssetRequest req;
    req.set_ns(ns);
    req.set_id(rpc::Raw(id.bytes()));
    req.set_force(force);
    v1::Empty resp;
    return Call(*aifs(), &v1::Aifs::Stub::DeleteAsset, req, &resp);
  }

  Result<VerifyReport> VerifyAsset(const std::string& ns, const AssetId& id) override {
    v1::VerifyAssetRequest req;
    req.set_ns(ns);
    req.set_id(rpc::Raw(id.bytes()));
    v1::VerifyAssetResponse resp;
    Metadata info;
    Status st = Call(*aifs(), &v1::Aifs::Stub::VerifyAsset, req, &resp, &info);
    VerifyReport report{id, resp.chunks_checked(), resp.bytes_checked(), Status::Ok()};
    if (st.ok()) return report;
    // A verification that ran and failed carries its counts; anything else
    // (unknown asset, bad request) is the call's own failure.
    if (!info.count("chunks_checked")) return st;
    report.chunks_checked = std::stoull(info["chunks_checked"]);
    report.bytes_checked = std::stoull(info["bytes_checked"]);
    report.result = st;
    return report;
  }

  Result<std::unique_ptr<Transaction>> BeginTransaction(const std::string& ns) override {
    v1::BeginTransactionRequest req;
    req.set_ns(ns);
    v1::BeginTransactionResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::BeginTransaction, req, &resp));
    return std::unique_ptr<Transaction>(
        std::make_unique<RemoteTransaction>(conn_, ns, resp.transaction_id()));
  }

  Result<LineageGraph> GetLineage(const std::string& ns, const AssetId& id,
                                  LineageDirection direction, int depth) override {
    v1::GetLineageRequest req;
    req.set_ns(ns);
    req.set_id(rpc::Raw(id.bytes()));
    req.set_direction(direction == LineageDirection::kUp ? v1::GetLineageRequest::UP
                                                         : v1::GetLineageRequest::DOWN);
    req.set_depth(depth);
    v1::GetLineageResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::GetLineage, req, &resp));
    return FromProto(resp);
  }

  Result<CheckoutReport> Checkout(const std::string& ns, const std::string& ref) override {
    v1::CheckoutRequest req;
    req.set_ns(ns);
    req.set_ref(ref);
    v1::CheckoutResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::Checkout, req, &resp));
    CheckoutReport r;
    AIFS_ASSIGN_OR_RETURN(r.snapshot, rpc::ParseSnapshotId(resp.snapshot()));
    r.bound = resp.bound();
    r.unbound = resp.unbound();
    r.missing.assign(resp.missing().begin(), resp.missing().end());
    return r;
  }

  Result<std::vector<SnapshotInfo>> SnapshotLog(const std::string& ns, const std::string& ref,
                                                size_t limit) override {
    v1::SnapshotLogRequest req;
    req.set_ns(ns);
    req.set_ref(ref);
    req.set_limit(static_cast<uint32_t>(std::min<size_t>(limit, UINT32_MAX)));
    v1::SnapshotLogResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::SnapshotLog, req, &resp));
    return All<SnapshotInfo>(resp.snapshots());
  }

  Result<MergeReport> Merge(const MergeOptions& options) override {
    return MergeCall(&v1::Aifs::Stub::Merge, options);
  }
  Result<MergeReport> Revert(const MergeOptions& options) override {
    return MergeCall(&v1::Aifs::Stub::Revert, options);
  }

  template <typename Method>
  Result<MergeReport> MergeCall(Method method, const MergeOptions& options) {
    v1::MergeRequest req;
    ToProto(options, &req);
    v1::MergeResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), method, req, &resp));
    return FromProto(resp);
  }

  Result<AssetId> ResolvePath(const std::string& ns, const std::string& path,
                              const AsOf& as_of) override {
    v1::ResolvePathRequest req;
    req.set_ns(ns);
    req.set_path(path);
    req.set_as_of(as_of);
    v1::ResolvePathResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::ResolvePath, req, &resp));
    return rpc::ParseAssetId(resp.id());
  }

  Result<PathPage> ListPaths(const PathListOptions& options) override {
    v1::ListPathsRequest req;
    req.set_ns(options.ns);
    req.set_prefix(options.prefix);
    req.set_as_of(options.as_of);
    req.set_limit(static_cast<uint32_t>(std::min<size_t>(options.limit, UINT32_MAX)));
    req.set_page_token(options.page_token);
    v1::ListPathsResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::ListPaths, req, &resp));
    PathPage page;
    for (const auto& e : resp.entries()) {
      AIFS_ASSIGN_OR_RETURN(AssetId id, rpc::ParseAssetId(e.id()));
      page.entries.push_back({e.path(), id});
    }
    page.next_page_token = resp.next_page_token();
    return page;
  }

  Status BindPath(const std::string& ns, const std::string& path, const AssetId& id) override {
    v1::BindPathRequest req;
    req.set_ns(ns);
    req.set_path(path);
    req.set_id(rpc::Raw(id.bytes()));
    v1::Empty resp;
    return Call(*aifs(), &v1::Aifs::Stub::BindPath, req, &resp);
  }

  Status MovePath(const std::string& ns, const std::string& from, const std::string& to) override {
    v1::MovePathRequest req;
    req.set_ns(ns);
    req.set_from(from);
    req.set_to(to);
    v1::Empty resp;
    return Call(*aifs(), &v1::Aifs::Stub::MovePath, req, &resp);
  }

  Status RemovePath(const std::string& ns, const std::string& path) override {
    v1::RemovePathRequest req;
    req.set_ns(ns);
    req.set_path(path);
    v1::Empty resp;
    return Call(*aifs(), &v1::Aifs::Stub::RemovePath, req, &resp);
  }

  using Api::CreateSnapshot;
  Result<SnapshotInfo> CreateSnapshot(const std::string& ns,
                                      const SnapshotOptions& options) override {
    v1::CreateSnapshotRequest req;
    req.set_ns(ns);
    req.set_explicit_set(options.ids != nullptr);
    if (options.ids)
      for (const AssetId& id : *options.ids) req.add_ids(rpc::Raw(id.bytes()));
    req.set_message(options.message);
    req.set_author(options.author);
    req.set_branch(options.branch);
    v1::Snapshot resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::CreateSnapshot, req, &resp));
    return FromProto(resp);
  }

  Result<SnapshotInfo> GetSnapshot(const std::string& ns, const std::string& ref) override {
    v1::Snapshot resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::GetSnapshot, Ref(ns, ref), &resp));
    return FromProto(resp);
  }

  Result<std::vector<SnapshotInfo>> ListSnapshots(const std::string& ns) override {
    v1::ListSnapshotsRequest req;
    req.set_ns(ns);
    v1::ListSnapshotsResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::ListSnapshots, req, &resp));
    return All<SnapshotInfo>(resp.snapshots());
  }

  Status VerifySnapshot(const std::string& ns, const std::string& ref) override {
    v1::Empty resp;
    return Call(*aifs(), &v1::Aifs::Stub::VerifySnapshot, Ref(ns, ref), &resp);
  }

  Result<SnapshotProof> ProveAsset(const std::string& ns, const std::string& ref,
                                   const AssetId& id) override {
    v1::ProveAssetRequest req;
    req.set_ns(ns);
    req.set_ref(ref);
    req.set_id(rpc::Raw(id.bytes()));
    v1::Proof resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::ProveAsset, req, &resp));
    return FromProto(resp);
  }

  Result<SnapshotProof> ProvePath(const std::string& ns, const std::string& ref,
                                  const std::string& path) override {
    v1::ProveAssetRequest req;
    req.set_ns(ns);
    req.set_ref(ref);
    req.set_path(path);
    v1::Proof resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::ProveAsset, req, &resp));
    return FromProto(resp);
  }

  Result<SnapshotDiff> DiffSnapshots(const std::string& ns, const std::string& a,
                                     const std::string& b) override {
    v1::DiffSnapshotsRequest req;
    req.set_ns(ns);
    req.set_a(a);
    req.set_b(b);
    v1::DiffSnapshotsResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::DiffSnapshots, req, &resp));
    return FromProto(resp);
  }

  Result<BranchInfo> CreateBranch(const std::string& ns, const std::string& name,
                                  const std::string& ref, const std::string& who) override {
    v1::CreateBranchRequest req;
    req.set_ns(ns);
    req.set_name(name);
    req.set_ref(ref);
    req.set_who(who);
    v1::Branch resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::CreateBranch, req, &resp));
    return FromProto(resp);
  }

  Result<BranchInfo> MoveBranch(const std::string& ns, const std::string& name,
                                const SnapshotId& expected, const std::string& ref,
                                const std::string& who) override {
    v1::MoveBranchRequest req;
    req.set_ns(ns);
    req.set_name(name);
    req.set_expected(rpc::Raw(expected.bytes()));
    req.set_ref(ref);
    req.set_who(who);
    v1::Branch resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::MoveBranch, req, &resp));
    return FromProto(resp);
  }

  Status DeleteBranch(const std::string& ns, const std::string& name,
                      const std::string& who) override {
    v1::Empty resp;
    return Call(*aifs(), &v1::Aifs::Stub::DeleteBranch, RefDeletion(ns, name, who), &resp);
  }

  Result<std::vector<BranchInfo>> ListBranches(const std::string& ns) override {
    v1::ListBranchesResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::ListBranches, Refs(ns), &resp));
    return All<BranchInfo>(resp.branches());
  }

  Result<std::vector<BranchMoveInfo>> BranchLog(const std::string& ns,
                                                const std::string& name) override {
    v1::BranchLogRequest req;
    req.set_ns(ns);
    req.set_name(name);
    v1::BranchLogResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::BranchLog, req, &resp));
    return All<BranchMoveInfo>(resp.moves());
  }

  Result<TagInfo> CreateTag(const std::string& ns, const std::string& name,
                            const std::string& ref, const std::string& who) override {
    v1::CreateTagRequest req;
    req.set_ns(ns);
    req.set_name(name);
    req.set_ref(ref);
    req.set_who(who);
    v1::Tag resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::CreateTag, req, &resp));
    return FromProto(resp);
  }

  Status DeleteTag(const std::string& ns, const std::string& name,
                   const std::string& who) override {
    v1::Empty resp;
    return Call(*aifs(), &v1::Aifs::Stub::DeleteTag, RefDeletion(ns, name, who), &resp);
  }

  Result<std::vector<TagInfo>> ListTags(const std::string& ns) override {
    v1::ListTagsResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::ListTags, Refs(ns), &resp));
    return All<TagInfo>(resp.tags());
  }

  Status SubscribeEvents(const EventQuery& query, const EventSink& sink) override {
    v1::SubscribeEventsRequest req;
    ToProto(query, &req);
    grpc::ClientContext ctx;
    auto stream = conn_->aifs->SubscribeEvents(&ctx, req);
    v1::SubscribeEventsResponse msg;
    Status stop;
    while (stop.ok() && stream->Read(&msg)) {
      if (msg.has_event()) {
        auto event = FromProto(msg.event());
        stop = event.ok() ? sink(*event) : event.status();
      } else if (query.keep_going && !query.keep_going()) {
        stop = err::Cancelled("SUBSCRIPTION_ENDED", "the subscriber went away");
      }
    }
    if (!stop.ok()) ctx.TryCancel();
    Status server = FromGrpc(stream->Finish());
    return stop.ok() ? server : stop;
  }

  Result<FormatReport> Format(const FormatOptions& options,
                              const FormatProgress& progress) override {
    v1::FormatRequest req;
    req.set_dry_run(options.dry_run);
    req.set_who(options.who);
    req.set_rebuild_index(options.rebuild_index);
    grpc::ClientContext ctx;
    auto stream = conn_->admin->Format(&ctx, req);
    v1::FormatProgress msg;
    std::optional<v1::FormatReport> done;
    while (stream->Read(&msg)) {
      if (msg.has_step() && progress) progress(FromProto(msg.step()));
      if (msg.has_done()) done = msg.done();
    }
    AIFS_RETURN_IF_ERROR(FromGrpc(stream->Finish()));
    if (!done) return err::DataLoss("FORMAT_REPORT_MISSING", "the server sent no format report");
    return FromProto(*done);
  }

  Result<std::vector<FormatReport>> FormatHistory() override {
    v1::FormatHistoryResponse resp;
    AIFS_RETURN_IF_ERROR(
        Call(*conn_->admin, &v1::Admin::Stub::FormatHistory, v1::Empty(), &resp));
    std::vector<FormatReport> out;
    for (const auto& r : resp.runs()) {
      AIFS_ASSIGN_OR_RETURN(FormatReport report, FromProto(r));
      out.push_back(std::move(report));
    }
    return out;
  }

  Result<EmbeddingSpace> CreateSpace(const std::string& ns, const EmbeddingSpace& space) override {
    v1::CreateSpaceRequest req;
    req.set_ns(ns);
    ToProto(space, req.mutable_space());
    v1::EmbeddingSpace resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::CreateSpace, req, &resp));
    return FromProto(resp);
  }

  Result<std::vector<EmbeddingSpace>> ListSpaces(const std::string& ns) override {
    v1::ListSpacesRequest req;
    req.set_ns(ns);
    v1::ListSpacesResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::ListSpaces, req, &resp));
    return All<EmbeddingSpace>(resp.spaces());
  }

  Result<VectorResult> VectorSearch(const VectorQuery& query) override {
    v1::VectorSearchRequest req;
    ToProto(query, &req);
    v1::VectorSearchResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::VectorSearch, req, &resp));
    return FromProto(resp);
  }

  Result<AggregateAnswer> Aggregate(const AggregateQuery& query) override {
    v1::AggregateRequest req;
    ToProto(query, &req);
    v1::AggregateResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::Aggregate, req, &resp));
    return FromProto(resp);
  }

  Result<PrivacyLedgerView> GetPrivacyLedger(const std::string& ns, size_t limit) override {
    v1::GetPrivacyLedgerRequest req;
    req.set_ns(ns);
    req.set_limit(static_cast<uint32_t>(std::min<size_t>(limit, UINT32_MAX)));
    v1::PrivacyLedger resp;
    AIFS_RETURN_IF_ERROR(Call(*aifs(), &v1::Aifs::Stub::GetPrivacyLedger, req, &resp));
    return FromProto(resp);
  }

  Status CheckHealth() override {
    auto serving = [&](const char* service) -> Result<bool> {
      grpc::health::v1::HealthCheckRequest req;
      req.set_service(service);
      grpc::health::v1::HealthCheckResponse resp;
      AIFS_RETURN_IF_ERROR(
          Call(*conn_->health, &grpc::health::v1::Health::Stub::Check, req, &resp));
      return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
    };
    AIFS_ASSIGN_OR_RETURN(bool reads, serving("readiness"));
    if (!reads) return err::Unavailable("NOT_SERVING", "the server reports its backends as not ready");
    AIFS_ASSIGN_OR_RETURN(bool writes, serving("writes"));
    if (!writes)
      return err::Unavailable("DEGRADED",
                              "reads work, writes fail (full disk or metadata write errors; "
                              "the server's log says which)");
    return Status::Ok();
  }

  Result<StoreDescription> DescribeStore() override {
    v1::StoreInfo resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->introspect, &v1::Introspect::Stub::GetInfo, v1::Empty(),
                              &resp));
    return FromProto(resp);
  }

  Result<GcReport> CollectGarbage(bool dry_run) override {
    v1::CollectGarbageRequest req;
    req.set_dry_run(dry_run);
    v1::CollectGarbageResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->admin, &v1::Admin::Stub::CollectGarbage, req, &resp));
    return FromProto(resp);
  }

  Result<std::vector<PendingEmbedding>> ListPendingEmbeddings(const std::string& ns,
                                                              const std::string& space,
                                                              size_t limit) override {
    v1::ListPendingEmbeddingsRequest req;
    req.set_ns(ns);
    req.set_space(space);
    req.set_limit(static_cast<uint32_t>(std::min<size_t>(limit, UINT32_MAX)));
    v1::ListPendingEmbeddingsResponse resp;
    AIFS_RETURN_IF_ERROR(
        Call(*conn_->admin, &v1::Admin::Stub::ListPendingEmbeddings, req, &resp));
    return All<PendingEmbedding>(resp.pending());
  }

  Result<uint64_t> ReviewEmbeddings(const EmbeddingReview& review) override {
    v1::ReviewEmbeddingsRequest req;
    ToProto(review, &req);
    v1::ReviewEmbeddingsResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->admin, &v1::Admin::Stub::ReviewEmbeddings, req, &resp));
    return resp.reviewed();
  }

  Result<OperatorInfo> AddOperator(const OperatorSpec& spec) override {
    v1::OperatorSpec req;
    ToProto(spec, &req);
    v1::OperatorInfo resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->admin, &v1::Admin::Stub::AddOperator, req, &resp));
    return FromProto(resp);
  }

  Result<std::vector<OperatorInfo>> ListOperators(const std::string& ns) override {
    v1::ListOperatorsRequest req;
    req.set_ns(ns);
    v1::ListOperatorsResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->admin, &v1::Admin::Stub::ListOperators, req, &resp));
    return All<OperatorInfo>(resp.operators());
  }

  Status RemoveOperator(const std::string& ns, const std::string& name) override {
    v1::OperatorRef req;
    req.set_ns(ns);
    req.set_name(name);
    v1::Empty resp;
    return Call(*conn_->admin, &v1::Admin::Stub::RemoveOperator, req, &resp);
  }

  Result<OperatorInfo> PauseOperator(const std::string& ns, const std::string& name,
                                     bool paused) override {
    v1::PauseOperatorRequest req;
    req.set_ns(ns);
    req.set_name(name);
    req.set_paused(paused);
    v1::OperatorInfo resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->admin, &v1::Admin::Stub::PauseOperator, req, &resp));
    return FromProto(resp);
  }

  Result<std::vector<OperatorFailure>> ListOperatorFailures(const std::string& ns,
                                                            const std::string& name,
                                                            size_t limit) override {
    v1::ListOperatorFailuresRequest req;
    req.set_ns(ns);
    req.set_name(name);
    req.set_limit(static_cast<uint32_t>(std::min<size_t>(limit, UINT32_MAX)));
    v1::ListOperatorFailuresResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->admin, &v1::Admin::Stub::ListOperatorFailures, req, &resp));
    return All<OperatorFailure>(resp.failures());
  }

  Result<uint64_t> ResolveOperatorFailures(const std::string& ns, const std::string& name,
                                           const std::vector<AssetId>& assets,
                                           bool retry) override {
    v1::ResolveOperatorFailuresRequest req;
    req.set_ns(ns);
    req.set_name(name);
    for (const AssetId& id : assets) req.add_assets(rpc::Raw(id.bytes()));
    req.set_retry(retry);
    v1::ResolveOperatorFailuresResponse resp;
    AIFS_RETURN_IF_ERROR(
        Call(*conn_->admin, &v1::Admin::Stub::ResolveOperatorFailures, req, &resp));
    return resp.resolved();
  }

  Result<OperatorInfo> DrainOperator(const std::string& ns, const std::string& name,
                                     std::chrono::milliseconds timeout) override {
    v1::DrainOperatorRequest req;
    req.set_ns(ns);
    req.set_name(name);
    req.set_timeout_ms(static_cast<uint32_t>(std::clamp<int64_t>(timeout.count(), 0, UINT32_MAX)));
    v1::OperatorInfo resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->admin, &v1::Admin::Stub::DrainOperator, req, &resp));
    return FromProto(resp);
  }

  Result<MetadataCheck> CheckMetadata() override {
    v1::CheckMetadataResponse resp;
    AIFS_RETURN_IF_ERROR(
        Call(*conn_->admin, &v1::Admin::Stub::CheckMetadata, v1::Empty(), &resp));
    return FromProto(resp);
  }

  Result<BackupReport> Backup(const std::string& dir) override {
    v1::BackupRequest req;
    req.set_dir(dir);
    v1::BackupResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->admin, &v1::Admin::Stub::Backup, req, &resp));
    return FromProto(resp);
  }

  Result<std::string> RotateKey() override {
    v1::RotateKeyResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->admin, &v1::Admin::Stub::RotateKey, v1::Empty(), &resp));
    return resp.key_id();
  }

  Result<std::string> MintToken(const std::vector<std::string>& caveats) override {
    v1::MintTokenRequest req;
    for (const std::string& c : caveats) req.add_caveats(c);
    v1::TokenResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->admin, &v1::Admin::Stub::MintToken, req, &resp));
    return resp.token();
  }

  Status RevokeToken(const std::string& token_or_id) override {
    v1::RevokeTokenRequest req;
    req.set_token_or_id(token_or_id);
    v1::Empty resp;
    return Call(*conn_->admin, &v1::Admin::Stub::RevokeToken, req, &resp);
  }

  Result<TokenKeyring> ListTokenKeys() override {
    v1::ListTokenKeysResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->admin, &v1::Admin::Stub::ListTokenKeys, v1::Empty(), &resp));
    return rpc::FromProto(resp);
  }

  Result<RotatedTokenRoot> RotateTokenRoot(const std::vector<std::string>& caveats) override {
    v1::RotateTokenRootRequest req;
    for (const std::string& c : caveats) req.add_caveats(c);
    v1::RotateTokenRootResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->admin, &v1::Admin::Stub::RotateTokenRoot, req, &resp));
    return RotatedTokenRoot{resp.key_id(), resp.token()};
  }

  Status RevokeTokenRoot(const std::string& key_id) override {
    v1::RevokeTokenRootRequest req;
    req.set_key_id(key_id);
    v1::Empty resp;
    return Call(*conn_->admin, &v1::Admin::Stub::RevokeTokenRoot, req, &resp);
  }

  Result<SignedUrl> SignUrl(const UrlRequest& request) override {
    v1::SignUrlRequest req;
    req.set_ns(request.ns);
    req.set_id(rpc::Raw(request.id.bytes()));
    req.set_as_of(request.as_of);
    req.set_expires_s(request.expires_s);
    req.set_file_name(request.file_name);
    v1::SignUrlResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->aifs, &v1::Aifs::Stub::SignUrl, req, &resp));
    return SignedUrl{.path_and_query = resp.path_and_query(),
                     .expires_unix_s = resp.expires_unix_s(),
                     .key_id = resp.key_id(),
                     .base = resp.base()};
  }

  Result<std::vector<TokenRootKey>> ListUrlKeys() override {
    v1::ListTokenKeysResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->admin, &v1::Admin::Stub::ListUrlKeys, v1::Empty(), &resp));
    return rpc::FromProto(resp).keys;
  }

  Result<std::string> RotateUrlKey() override {
    v1::RotateKeyResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->admin, &v1::Admin::Stub::RotateUrlKey, v1::Empty(), &resp));
    return resp.key_id();
  }

  Status RevokeUrlKey(const std::string& key_id) override {
    v1::RevokeTokenRootRequest req;
    req.set_key_id(key_id);
    v1::Empty resp;
    return Call(*conn_->admin, &v1::Admin::Stub::RevokeUrlKey, req, &resp);
  }

  // Unary: the server runs the whole rewrap and reports the totals (no
  // per-batch progress over the wire).
  Result<RewrapReport> RewrapKeys(const RewrapOptions& options, const RewrapProgress&) override {
    v1::RewrapKeysRequest req;
    req.set_batch_size(options.batch_size);
    req.set_max_chunks(options.max_chunks);
    req.set_max_resealed(options.max_resealed);
    v1::RewrapKeysResponse resp;
    AIFS_RETURN_IF_ERROR(Call(*conn_->admin, &v1::Admin::Stub::RewrapKeys, req, &resp));
    return rpc::FromProto(resp);
  }

 private:
  v1::Aifs::Stub* aifs() { return conn_->aifs.get(); }
  static v1::SnapshotRef Ref(const std::string& ns, const std::string& ref) {
    v1::SnapshotRef r;
    r.set_ns(ns);
    r.set_ref(ref);
    return r;
  }
  static v1::ListRefsRequest Refs(const std::string& ns) {
    v1::ListRefsRequest r;
    r.set_ns(ns);
    return r;
  }
  static v1::DeleteRefRequest RefDeletion(const std::string& ns, const std::string& name,
                                          const std::string& who) {
    v1::DeleteRefRequest r;
    r.set_ns(ns);
    r.set_name(name);
    r.set_who(who);
    return r;
  }

  std::shared_ptr<Connection> conn_;
};

Result<std::shared_ptr<grpc::ChannelCredentials>> Credentials(const RemoteOptions& o) {
  if (o.tls_cert_file.empty() != o.tls_key_file.empty())
    return err::InvalidArgument("BAD_TLS_FILES",
                                "a client certificate and its key go together "
                                "(--tls-client-cert and --tls-client-key)");
  if (o.tls_ca_file.empty()) {
    if (!o.tls_cert_file.empty())
      return err::InvalidArgument("BAD_TLS_FILES", "a client certificate needs a CA (--tls-ca)");
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  auto read = [](const std::string& path, std::string& out) -> Status {
    auto bytes = ReadFileToString(path);
    if (!bytes.ok())
      return err::InvalidArgument("BAD_TLS_FILES",
                                  "cannot read " + path + ": " + bytes.status().message());
    out = std::move(*bytes);
    return Status::Ok();
  };
  AIFS_RETURN_IF_ERROR(read(o.tls_ca_file, ssl.pem_root_certs));
  if (!o.tls_cert_file.empty()) {
    AIFS_RETURN_IF_ERROR(read(o.tls_cert_file, ssl.pem_cert_chain));
    AIFS_RETURN_IF_ERROR(read(o.tls_key_file, ssl.pem_private_key));
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

Result<std::unique_ptr<Api>> ConnectRemote(const RemoteOptions& options) {
  AIFS_ASSIGN_OR_RETURN(auto creds, Credentials(options));
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  // After a lost server, try again soon and often: gRPC's defaults (1 s,
  // growing 1.6x per failure, up to 2 min) leave a long-lived client (a
  // mount) dark long after a short outage. See also PreferQuickReconnects.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  if (!options.tls_server_name.empty())
    args.SetSslTargetNameOverride(options.tls_server_name);
  auto conn = std::make_shared<Connection>();
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> bearer;
  if (!options.token.empty()) bearer.push_back(NewBearerTokenInterceptor(options.token));
  conn->channel = grpc::experimental::CreateCustomChannelWithInterceptors(options.target, creds,
                                                                          args, std::move(bearer));
  conn->aifs = v1::Aifs::NewStub(conn->channel);
  conn->admin = v1::Admin::NewStub(conn->channel);
  conn->introspect = v1::Introspect::NewStub(conn->channel);
  conn->health = grpc::health::v1::Health::NewStub(conn->channel);
  // One round trip up front: fail fast when nobody answers (or the TLS
  // handshake fails; gRPC's message says why), and learn whether the server
  // takes zstd frames.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + options.connect_timeout);
  v1::StoreInfo info;
  Status st = FromGrpc(conn->introspect->GetInfo(&ctx, v1::Empty(), &info));
  if (st.code() == Code::kDeadlineExceeded || st.code() == Code::kUnavailable)
    return err::Unavailable("SERVER_UNREACHABLE",
                            "no AIFS server answers at " + options.target + ": " + st.message());
  if (!st.ok()) return st.WithContext("connecting to " + options.target);
  const std::string& t = options.target;
  const bool loopback = t.starts_with("127.") || t.starts_with("localhost:") ||
                        t.starts_with("[::1]") || t.starts_with("unix:");
  const bool want = options.zstd == RemoteOptions::Zstd::kOn ||
                    (options.zstd == RemoteOptions::Zstd::kAuto && !loopback);
  auto offered = [&](const std::string& feature) {
    return std::find(info.features().begin(), info.features().end(), feature) !=
           info.features().end();
  };
  conn->zstd = want && offered("zstd-frames");
  conn->stored = options.stored_reads && offered("stored-reads");
  if (options.read_streams && offered("read-streams"))
    conn->read_streams = std::make_unique<ReadStreamPool>(conn->aifs.get());
  return std::unique_ptr<Api>(std::make_unique<RemoteApi>(std::move(conn)));
}

void PreferQuickReconnects() {
  ::setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "100", /*overwrite=*/0);
}

}  // namespace aifs
