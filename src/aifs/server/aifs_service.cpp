// aifs.v1.Aifs: the data and metadata plane over aifs::Api.
#include <algorithm>

#include "aifs/rpc/convert.h"
#include "aifs/rpc/frames.h"
#include "aifs/rpc/range_frames.h"
#include "aifs/rpc/status_codec.h"
#include "aifs/server/services.h"

namespace aifs::server {

namespace {

using grpc::ServerContext;
using rpc::RunRpc;
using rpc::FromProto;
using rpc::ToProto;

// Sends one message of a read stream. Data frames go out without gRPC's own
// compression: they are zstd already or not worth compressing.
template <typename Writer, typename Response>
Status Send(ServerContext* sctx, Writer* writer, const Response& msg) {
  if (!writer->Write(msg, grpc::WriteOptions().set_no_compression()))
    return err::Cancelled("READ_CANCELLED", "the client stopped reading");
  return sctx->IsCancelled() ? err::Cancelled("READ_CANCELLED", "the client went away")
                             : Status::Ok();
}

class AifsService final : public v1::Aifs::Service {
 public:
  explicit AifsService(ServiceContext& ctx) : ctx_(ctx) {}

  grpc::Status GetNamespace(ServerContext* sctx, const v1::GetNamespaceRequest* req,
                            v1::Namespace* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/GetNamespace", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(NamespaceInfo ns, api.GetNamespace(req->name()));
      ToProto(ns, resp);
      return Status::Ok();
    });
  }

  grpc::Status ListNamespaces(ServerContext* sctx, const v1::ListNamespacesRequest* req,
                              v1::ListNamespacesResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/ListNamespaces", *req, [&](CallerApi& api) -> Status {
      // Filtered by the engine to what the caller's token may see.
      AIFS_ASSIGN_OR_RETURN(auto visible, api.ListNamespaces());
      for (const NamespaceInfo& ns : visible) ToProto(ns, resp->add_namespaces());
      return Status::Ok();
    });
  }

  grpc::Status PutAsset(ServerContext* sctx, grpc::ServerReader<v1::PutAssetRequest>* reader,
                        v1::PutAssetResponse* resp) override {
    return RunRpc([&]() -> Status {
      // Watched from the start: a stream that never sends its header stalls too.
      PutWatchdog::Watch watch;
      if (ctx_.put_watchdog) watch = ctx_.put_watchdog->Track(sctx);
      auto ended = [&]() -> Status {
        if (watch.stalled())
          return Status(Code::kDeadlineExceeded, "PUT_STALLED",
                        "the client stopped sending; nothing was committed");
        if (sctx->IsCancelled())
          return err::Cancelled("PUT_CANCELLED", "the client went away mid-put");
        return err::InvalidArgument("PUT_TRUNCATED",
                                    "the put stream ended without a finish message; nothing "
                                    "was committed");
      };
      v1::PutAssetRequest msg;
      if (!reader->Read(&msg)) {
        if (watch.stalled() || sctx->IsCancelled()) return ended();
        return err::InvalidArgument("PUT_HEADER_MISSING", "empty put stream");
      }
      watch.Touch();
      // The namespace is in the first message: check before anything else.
      AIFS_ASSIGN_OR_RETURN(AdmittedCall call,
                            AdmitWithSlot(ctx_, *sctx, "/aifs.v1.Aifs/PutAsset", msg));
      CallerApi& api = *call.api;
      // Admitted only once authorized: strangers cannot use up the slots.
      std::optional<CallLimiter::Slot> put_slot;
      if (ctx_.puts) {
        AIFS_ASSIGN_OR_RETURN(auto slot, ctx_.puts->Acquire(api.caller_key()));
        put_slot.emplace(std::move(slot));
      }
      if (!msg.has_header())
        return err::InvalidArgument("PUT_HEADER_MISSING",
                                    "a put stream starts with a header message");
      AIFS_ASSIGN_OR_RETURN(PutOptions options, FromProto(msg.header()));
      std::unique_ptr<AssetWriter> writer;
      if (msg.header().transaction_id().empty()) {
        AIFS_ASSIGN_OR_RETURN(writer, api.BeginPut(options));
      } else {
        AIFS_ASSIGN_OR_RETURN(writer,
                              ctx_.transactions.BeginPut(msg.header().transaction_id(), options));
      }
      // Destroying the writer on any early return aborts the put.
      Bytes scratch;
      while (true) {
        if (!reader->Read(&msg)) return ended();
        watch.Touch();
        if (msg.has_finish()) {
          // finish is the last message: anything after it would be lost.
          if (reader->Read(&msg))
            return err::InvalidArgument("PUT_DATA_AFTER_FINISH",
                                        "a put stream ends with its finish message; a message "
                                        "followed it, nothing was committed");
          break;
        }
        if (!msg.has_data())
          return err::InvalidArgument("PUT_UNEXPECTED_MESSAGE",
                                      "after the header a put stream carries data frames, then "
                                      "finish");
        AIFS_ASSIGN_OR_RETURN(ByteSpan raw, rpc::DecodeFrame(msg.data(), scratch));
        ctx_.metrics.AddWireBytesIn(msg.data().data().size());
        ctx_.metrics.AddBytesIn(raw.size());
        AIFS_RETURN_IF_ERROR(writer->Write(raw));
      }
      AIFS_ASSIGN_OR_RETURN(PutResult result, writer->Commit());
      ToProto(result, resp);
      return Status::Ok();
    });
  }

  grpc::Status GetAsset(ServerContext* sctx, const v1::GetAssetRequest* req,
                        v1::GetAssetResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/GetAsset", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(AssetId id, rpc::ParseAssetId(req->id()));
      AIFS_ASSIGN_OR_RETURN(AssetInfo info,
                            api.StatAssetAt(req->ns(), id, req->as_of(), req->with_chunks()));
      ToProto(info, resp->mutable_asset());
      if (req->with_children()) {
        AIFS_ASSIGN_OR_RETURN(LineageGraph g,
                              api.GetLineage(req->ns(), id, LineageDirection::kDown, 1));
        for (const LineageEdge& e : g.edges) {
          auto* c = resp->add_children();
          c->set_asset(rpc::Raw(e.child.bytes()));
          c->set_transform(e.transform);
          c->set_transform_digest(e.transform_digest);
        }
      }
      return Status::Ok();
    });
  }

  grpc::Status ReadAsset(ServerContext* sctx, const v1::ReadAssetRequest* req,
                         grpc::ServerWriter<v1::ReadAssetResponse>* writer) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/ReadAsset", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(AssetId id, rpc::ParseAssetId(req->id()));
      ReadRange range{req->offset(), req->has_length() ? req->length() : ReadRange::kToEnd};
      // The reader's pieces (whole chunks, 64 KiB segments, stored zstd
      // frames) are gathered into frames of up to kMaxFrameBytes: fewer,
      // fuller messages.
      v1::ReadAssetResponse msg;
      uint64_t offset = req->offset();
      rpc::FramePacker packer(req->accept_zstd(), msg.mutable_data(), [&](uint64_t raw) -> Status {
        msg.set_offset(offset);
        AIFS_RETURN_IF_ERROR(Send(sctx, writer, msg));
        ctx_.metrics.AddWireBytesOut(msg.data().data().size());
        ctx_.metrics.AddBytesOut(raw);
        offset += raw;
        return Status::Ok();
      });
      if (req->accept_stored()) {
        AIFS_RETURN_IF_ERROR(api.ReadAssetStoredAt(
            req->ns(), id, req->as_of(), range, [&](const StoredPiece& piece) {
              return piece.zstd ? packer.AddCompressed(piece.data, piece.raw_size)
                                : packer.Add(piece.data);
            }));
      } else {
        AIFS_RETURN_IF_ERROR(api.ReadAssetAt(req->ns(), id, req->as_of(), range,
                                             [&](ByteSpan data) { return packer.Add(data); }));
      }
      return packer.Flush();
    });
  }

  grpc::Status ReadRanges(ServerContext* sctx, const v1::ReadRangesRequest* req,
                          grpc::ServerWriter<v1::ReadRangesResponse>* writer) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/ReadRanges", *req,
                 [&](CallerApi& api) -> Status { return SendRanges(api, sctx, *req, writer); });
  }

  grpc::Status ReadRangesStream(
      ServerContext* sctx,
      grpc::ServerReaderWriter<v1::ReadRangesResponse, v1::ReadRangesRequest>* stream) override {
    return RunRpc([&]() -> Status {
      v1::ReadRangesRequest req;
      while (true) {
        {
          std::optional<WaitingStreams::Wait> wait;
          if (ctx_.read_streams && !(wait = ctx_.read_streams->Begin(sctx)))
            return Status::Ok();                         // shutting down: end between requests
          if (!stream->Read(&req)) return Status::Ok();  // the client is done (or cancelled)
        }
        // Each request on its own: a token revoked or expired since the
        // last one stops this one. The call slot is held while the request
        // runs: a stream waiting between requests does not count against its
        // token's call limit.
        AIFS_ASSIGN_OR_RETURN(AdmittedCall call,
                              AdmitWithSlot(ctx_, *sctx, "/aifs.v1.Aifs/ReadRangesStream", req));
        AIFS_RETURN_IF_ERROR(SendRanges(*call.api, sctx, req, stream, &call.slot));
      }
    });
  }

  grpc::Status ListAssets(ServerContext* sctx, const v1::ListAssetsRequest* req,
                          v1::ListAssetsResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/ListAssets", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(ListOptions options, FromProto(*req));
      AIFS_ASSIGN_OR_RETURN(AssetPage page, api.ListAssets(options));
      for (const AssetInfo& a : page.assets) ToProto(a, resp->add_assets());
      resp->set_next_page_token(page.next_page_token);
      return Status::Ok();
    });
  }

  grpc::Status DeleteAsset(ServerContext* sctx, const v1::DeleteAssetRequest* req,
                           v1::Empty*) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/DeleteAsset", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(AssetId id, rpc::ParseAssetId(req->id()));
      return api.DeleteAsset(req->ns(), id, req->force());
    });
  }

  grpc::Status VerifyAsset(ServerContext* sctx, const v1::VerifyAssetRequest* req,
                           v1::VerifyAssetResponse* resp) override {
    Metadata counts;
    Status st = [&]() -> Status {
      AIFS_ASSIGN_OR_RETURN(
          std::unique_ptr<CallerApi> api,
          AdmitCall(ctx_.gate, ctx_.transactions, *sctx, "/aifs.v1.Aifs/VerifyAsset", *req));
      AIFS_ASSIGN_OR_RETURN(AssetId id, rpc::ParseAssetId(req->id()));
      AIFS_ASSIGN_OR_RETURN(VerifyReport report, api->VerifyAsset(req->ns(), id));
      resp->set_id(req->id());
      resp->set_chunks_checked(report.chunks_checked);
      resp->set_bytes_checked(report.bytes_checked);
      counts = {{"chunks_checked", std::to_string(report.chunks_checked)},
                {"bytes_checked", std::to_string(report.bytes_checked)}};
      return report.result;
    }();
    return rpc::ToGrpc(st, counts);
  }

  grpc::Status BeginTransaction(ServerContext* sctx, const v1::BeginTransactionRequest* req,
                                v1::BeginTransactionResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/BeginTransaction", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(auto txn, api.BeginTransaction(req->ns()));
      AIFS_ASSIGN_OR_RETURN(auto opened, ctx_.transactions.Open(std::move(txn), req->ns()));
      resp->set_transaction_id(opened.id);
      resp->set_expires_unix_ns(opened.expires_unix_ns);
      return Status::Ok();
    });
  }

  grpc::Status CommitTransaction(ServerContext* sctx, const v1::CommitTransactionRequest* req,
                                 v1::CommitTransactionResponse* resp) override {
    // The registry holds the transaction its beginner's Api made: it checks
    // again at commit; this call's own token was checked by Guard.
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/CommitTransaction", *req, [&](CallerApi&) -> Status {
      AIFS_ASSIGN_OR_RETURN(auto results, ctx_.transactions.Commit(req->transaction_id()));
      for (const PutResult& r : results) ToProto(r, resp->add_assets());
      return Status::Ok();
    });
  }

  grpc::Status AbortTransaction(ServerContext* sctx, const v1::AbortTransactionRequest* req,
                                v1::Empty*) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/AbortTransaction", *req,
                 [&](CallerApi&) { return ctx_.transactions.Abort(req->transaction_id()); });
  }

  grpc::Status GetLineage(ServerContext* sctx, const v1::GetLineageRequest* req,
                          v1::GetLineageResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/GetLineage", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(AssetId id, rpc::ParseAssetId(req->id()));
      if (!v1::GetLineageRequest::Direction_IsValid(req->direction()))
        return err::InvalidArgument("BAD_DIRECTION", "lineage direction is UP or DOWN");
      const auto dir = req->direction() == v1::GetLineageRequest::UP ? LineageDirection::kUp
                                                                     : LineageDirection::kDown;
      AIFS_ASSIGN_OR_RETURN(LineageGraph g, api.GetLineage(req->ns(), id, dir, req->depth()));
      ToProto(g, resp);
      return Status::Ok();
    });
  }

  grpc::Status CreateSnapshot(ServerContext* sctx, const v1::CreateSnapshotRequest* req,
                              v1::Snapshot* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/CreateSnapshot", *req, [&](CallerApi& api) -> Status {
      std::vector<AssetId> ids;
      for (const std::string& b : req->ids()) {
        AIFS_ASSIGN_OR_RETURN(AssetId id, rpc::ParseAssetId(b));
        ids.push_back(id);
      }
      if (!req->explicit_set() && !ids.empty())
        return err::InvalidArgument("IDS_WITHOUT_EXPLICIT_SET",
                                    "ids are only read for an explicit-set snapshot");
      const SnapshotOptions options{.ids = req->explicit_set() ? &ids : nullptr,
                                    .message = req->message(),
                                    .author = req->author(),
                                    .branch = req->branch()};
      AIFS_ASSIGN_OR_RETURN(SnapshotInfo s, api.CreateSnapshot(req->ns(), options));
      ToProto(s, resp);
      return Status::Ok();
    });
  }

  grpc::Status GetSnapshot(ServerContext* sctx, const v1::SnapshotRef* req,
                           v1::Snapshot* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/GetSnapshot", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(SnapshotInfo s, api.GetSnapshot(req->ns(), req->ref()));
      ToProto(s, resp);
      return Status::Ok();
    });
  }

  grpc::Status ListSnapshots(ServerContext* sctx, const v1::ListSnapshotsRequest* req,
                             v1::ListSnapshotsResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/ListSnapshots", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(auto all, api.ListSnapshots(req->ns()));
      for (const SnapshotInfo& s : all) ToProto(s, resp->add_snapshots());
      return Status::Ok();
    });
  }

  grpc::Status VerifySnapshot(ServerContext* sctx, const v1::SnapshotRef* req, v1::Empty*) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/VerifySnapshot", *req,
                 [&](CallerApi& api) { return api.VerifySnapshot(req->ns(), req->ref()); });
  }

  grpc::Status ProveAsset(ServerContext* sctx, const v1::ProveAssetRequest* req,
                          v1::Proof* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/ProveAsset", *req, [&](CallerApi& api) -> Status {
      SnapshotProof p;
      if (req->has_path()) {
        AIFS_ASSIGN_OR_RETURN(p, api.ProvePath(req->ns(), req->ref(), req->path()));
      } else {
        AIFS_ASSIGN_OR_RETURN(AssetId id, rpc::ParseAssetId(req->id()));
        AIFS_ASSIGN_OR_RETURN(p, api.ProveAsset(req->ns(), req->ref(), id));
      }
      ToProto(p, resp);
      return Status::Ok();
    });
  }

  grpc::Status Checkout(ServerContext* sctx, const v1::CheckoutRequest* req,
                        v1::CheckoutResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/Checkout", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(CheckoutReport r, api.Checkout(req->ns(), req->ref()));
      resp->set_snapshot(std::string(AsChars(r.snapshot.bytes())));
      resp->set_bound(r.bound);
      resp->set_unbound(r.unbound);
      for (const std::string& m : r.missing) resp->add_missing(m);
      return Status::Ok();
    });
  }

  grpc::Status SnapshotLog(ServerContext* sctx, const v1::SnapshotLogRequest* req,
                           v1::SnapshotLogResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/SnapshotLog", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(
          auto log, api.SnapshotLog(req->ns(), req->ref(), req->limit() ? req->limit() : 100));
      for (const SnapshotInfo& s : log) ToProto(s, resp->add_snapshots());
      return Status::Ok();
    });
  }

  grpc::Status Merge(ServerContext* sctx, const v1::MergeRequest* req,
                     v1::MergeResponse* resp) override {
    return MergeOrRevert(sctx, "/aifs.v1.Aifs/Merge", *req, resp, false);
  }

  grpc::Status Revert(ServerContext* sctx, const v1::MergeRequest* req,
                      v1::MergeResponse* resp) override {
    return MergeOrRevert(sctx, "/aifs.v1.Aifs/Revert", *req, resp, true);
  }

  grpc::Status MergeOrRevert(ServerContext* sctx, const char* method, const v1::MergeRequest& req,
                             v1::MergeResponse* resp, bool revert) {
    return Guard(ctx_, sctx, method, req, [&](CallerApi& api) -> Status {
      MergeOptions o = rpc::FromProto(req);
      o.author = req.author();
      AIFS_ASSIGN_OR_RETURN(MergeReport r, revert ? api.Revert(o) : api.Merge(o));
      ToProto(r, resp);
      return Status::Ok();
    });
  }

  grpc::Status ResolvePath(ServerContext* sctx, const v1::ResolvePathRequest* req,
                           v1::ResolvePathResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/ResolvePath", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(AssetId id, api.ResolvePath(req->ns(), req->path(), req->as_of()));
      resp->set_id(std::string(AsChars(id.bytes())));
      return Status::Ok();
    });
  }

  grpc::Status ListPaths(ServerContext* sctx, const v1::ListPathsRequest* req,
                         v1::ListPathsResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/ListPaths", *req, [&](CallerApi& api) -> Status {
      PathListOptions o{req->ns(), req->prefix(), req->as_of(),
                        req->limit() ? req->limit() : size_t{1000}, req->page_token()};
      AIFS_ASSIGN_OR_RETURN(PathPage page, api.ListPaths(o));
      for (const PathEntry& e : page.entries) {
        auto* out = resp->add_entries();
        out->set_path(e.path);
        out->set_id(std::string(AsChars(e.id.bytes())));
      }
      resp->set_next_page_token(page.next_page_token);
      return Status::Ok();
    });
  }

  grpc::Status BindPath(ServerContext* sctx, const v1::BindPathRequest* req, v1::Empty*) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/BindPath", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(AssetId id, rpc::ParseAssetId(req->id()));
      return api.BindPath(req->ns(), req->path(), id);
    });
  }

  grpc::Status MovePath(ServerContext* sctx, const v1::MovePathRequest* req, v1::Empty*) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/MovePath", *req,
                 [&](CallerApi& api) { return api.MovePath(req->ns(), req->from(), req->to()); });
  }

  grpc::Status RemovePath(ServerContext* sctx, const v1::RemovePathRequest* req,
                          v1::Empty*) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/RemovePath", *req,
                 [&](CallerApi& api) { return api.RemovePath(req->ns(), req->path()); });
  }

  grpc::Status DiffSnapshots(ServerContext* sctx, const v1::DiffSnapshotsRequest* req,
                             v1::DiffSnapshotsResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/DiffSnapshots", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(SnapshotDiff d, api.DiffSnapshots(req->ns(), req->a(), req->b()));
      ToProto(d, resp);
      return Status::Ok();
    });
  }

  grpc::Status CreateBranch(ServerContext* sctx, const v1::CreateBranchRequest* req,
                            v1::Branch* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/CreateBranch", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(BranchInfo b,
                            api.CreateBranch(req->ns(), req->name(), req->ref(), req->who()));
      ToProto(b, resp);
      return Status::Ok();
    });
  }

  grpc::Status MoveBranch(ServerContext* sctx, const v1::MoveBranchRequest* req,
                          v1::Branch* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/MoveBranch", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(SnapshotId expected, rpc::ParseSnapshotId(req->expected()));
      AIFS_ASSIGN_OR_RETURN(
          BranchInfo b, api.MoveBranch(req->ns(), req->name(), expected, req->ref(), req->who()));
      ToProto(b, resp);
      return Status::Ok();
    });
  }

  grpc::Status DeleteBranch(ServerContext* sctx, const v1::DeleteRefRequest* req,
                            v1::Empty*) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/DeleteBranch", *req, [&](CallerApi& api) {
      return api.DeleteBranch(req->ns(), req->name(), req->who());
    });
  }

  grpc::Status ListBranches(ServerContext* sctx, const v1::ListRefsRequest* req,
                            v1::ListBranchesResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/ListBranches", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(auto all, api.ListBranches(req->ns()));
      for (const BranchInfo& b : all) ToProto(b, resp->add_branches());
      return Status::Ok();
    });
  }

  grpc::Status BranchLog(ServerContext* sctx, const v1::BranchLogRequest* req,
                         v1::BranchLogResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/BranchLog", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(auto moves, api.BranchLog(req->ns(), req->name()));
      for (const BranchMoveInfo& m : moves) ToProto(m, resp->add_moves());
      return Status::Ok();
    });
  }

  grpc::Status CreateTag(ServerContext* sctx, const v1::CreateTagRequest* req,
                         v1::Tag* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/CreateTag", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(TagInfo t,
                            api.CreateTag(req->ns(), req->name(), req->ref(), req->who()));
      ToProto(t, resp);
      return Status::Ok();
    });
  }

  grpc::Status DeleteTag(ServerContext* sctx, const v1::DeleteRefRequest* req,
                         v1::Empty*) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/DeleteTag", *req,
                 [&](CallerApi& api) { return api.DeleteTag(req->ns(), req->name(), req->who()); });
  }

  grpc::Status ListTags(ServerContext* sctx, const v1::ListRefsRequest* req,
                        v1::ListTagsResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/ListTags", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(auto all, api.ListTags(req->ns()));
      for (const TagInfo& t : all) ToProto(t, resp->add_tags());
      return Status::Ok();
    });
  }

  grpc::Status SubscribeEvents(ServerContext* sctx, const v1::SubscribeEventsRequest* req,
                               grpc::ServerWriter<v1::SubscribeEventsResponse>* writer) override {
    // An idle follower gets a heartbeat about once a second, so a dead
    // connection is noticed on both ends.
    constexpr auto kHeartbeat = std::chrono::seconds(1);
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/SubscribeEvents", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(EventQuery query, FromProto(*req));
      uint64_t cursor = req->after();
      auto last_write = std::chrono::steady_clock::now();
      v1::SubscribeEventsResponse msg;
      query.keep_going = [&] {
        if (sctx->IsCancelled() || ctx_.stopping) return false;
        if (std::chrono::steady_clock::now() - last_write < kHeartbeat) return true;
        msg.set_cursor(cursor);
        last_write = std::chrono::steady_clock::now();
        return writer->Write(msg);
      };
      Status st = api.SubscribeEvents(query, [&](const Event& e) -> Status {
        ToProto(e, msg.mutable_event());
        if (!writer->Write(msg))
          return err::Cancelled("SUBSCRIPTION_ENDED", "the subscriber went away");
        cursor = e.seq;
        last_write = std::chrono::steady_clock::now();
        return Status::Ok();
      });
      if (ctx_.stopping)
        return err::Unavailable("SERVER_SHUTTING_DOWN",
                                "the server is shutting down; resume after event " +
                                    std::to_string(cursor));
      return st;
    });
  }

  grpc::Status CreateSpace(ServerContext* sctx, const v1::CreateSpaceRequest* req,
                           v1::EmbeddingSpace* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/CreateSpace", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(EmbeddingSpace space, FromProto(req->space()));
      AIFS_ASSIGN_OR_RETURN(EmbeddingSpace created, api.CreateSpace(req->ns(), space));
      ToProto(created, resp);
      return Status::Ok();
    });
  }

  grpc::Status ListSpaces(ServerContext* sctx, const v1::ListSpacesRequest* req,
                          v1::ListSpacesResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/ListSpaces", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(auto spaces, api.ListSpaces(req->ns()));
      for (const EmbeddingSpace& s : spaces) ToProto(s, resp->add_spaces());
      return Status::Ok();
    });
  }

  grpc::Status VectorSearch(ServerContext* sctx, const v1::VectorSearchRequest* req,
                            v1::VectorSearchResponse* resp) override {
    std::chrono::milliseconds retry{0};
    grpc::Status st =
        Guard(ctx_, sctx, "/aifs.v1.Aifs/VectorSearch", *req, [&](CallerApi& api) -> Status {
          // The bucket is the token's: attenuated copies share its identifier,
          // and more connections do not help.
          if (ctx_.search_limiter)
            AIFS_RETURN_IF_ERROR(ctx_.search_limiter->Admit(api.caller_key(), &retry));
          AIFS_ASSIGN_OR_RETURN(VectorQuery q, FromProto(*req));
          AIFS_ASSIGN_OR_RETURN(VectorResult r, api.VectorSearch(q));
          ToProto(r, resp);
          return Status::Ok();
        });
    return retry.count() > 0 ? rpc::WithRetryInfo(st, retry) : st;
  }

  grpc::Status SignUrl(ServerContext* sctx, const v1::SignUrlRequest* req,
                       v1::SignUrlResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/SignUrl", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(AssetId id, rpc::ParseAssetId(req->id()));
      UrlRequest r{.ns = req->ns(), .id = id, .as_of = req->as_of(), .file_name = req->file_name()};
      if (req->expires_s() != 0) r.expires_s = req->expires_s();
      AIFS_ASSIGN_OR_RETURN(SignedUrl url, api.SignUrl(r));
      resp->set_path_and_query(url.path_and_query);
      resp->set_expires_unix_s(url.expires_unix_s);
      resp->set_key_id(url.key_id);
      resp->set_base(ctx_.http_url);
      return Status::Ok();
    });
  }

  grpc::Status Aggregate(ServerContext* sctx, const v1::AggregateRequest* req,
                         v1::AggregateResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/Aggregate", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(AggregateQuery q, FromProto(*req));
      AIFS_ASSIGN_OR_RETURN(AggregateAnswer a, api.Aggregate(q));
      ToProto(a, resp);
      return Status::Ok();
    });
  }

  grpc::Status GetPrivacyLedger(ServerContext* sctx, const v1::GetPrivacyLedgerRequest* req,
                                v1::PrivacyLedger* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Aifs/GetPrivacyLedger", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(PrivacyLedgerView v, api.GetPrivacyLedger(req->ns(), req->limit()));
      ToProto(v, resp);
      return Status::Ok();
    });
  }

 private:
  // Answers one ReadRanges request on `writer`: the ranges' pieces, the last
  // message with `done`. `slot`, when given, is given back before that last
  // message goes out: a client that acts on the answer at once must find its
  // token's call slot free, as it does after a unary call.
  template <typename Writer>
  Status SendRanges(CallerApi& api, ServerContext* sctx, const v1::ReadRangesRequest& req,
                    Writer* writer, std::optional<CallLimiter::Slot>* slot = nullptr) {
    AIFS_ASSIGN_OR_RETURN(std::vector<RangeRead> ranges, rpc::FromProto(req));
    rpc::RangePacker packer(ranges, req.accept_zstd(),
                            [&](const v1::ReadRangesResponse& msg) -> Status {
                              AIFS_RETURN_IF_ERROR(Send(sctx, writer, msg));
                              ctx_.metrics.AddWireBytesOut(msg.data().data().size());
                              ctx_.metrics.AddBytesOut(msg.data().raw_size());
                              return Status::Ok();
                            });
    AIFS_RETURN_IF_ERROR(
        api.ReadRangesAt(req.ns(), req.as_of(), ranges,
                         [&](size_t i, ByteSpan data) { return packer.Add(i, data); }));
    if (slot) slot->reset();
    return packer.Finish();
  }

  ServiceContext& ctx_;
};

}  // namespace

std::unique_ptr<v1::Aifs::Service> NewAifsService(ServiceContext& ctx) {
  return std::make_unique<AifsService>(ctx);
}

}  // namespace aifs::server
