// aifs.v1.Admin, Introspect and Metrics over aifs::Api.
#include "aifs/rpc/convert.h"
#include "aifs/rpc/frames.h"
#include "aifs/rpc/operator_convert.h"
#include "aifs/rpc/status_codec.h"
#include "aifs/server/services.h"
#include "aifs/server/version.h"

namespace aifs::server {

namespace {

using grpc::ServerContext;
using rpc::RunRpc;

class AdminService final : public v1::Admin::Service {
 public:
  explicit AdminService(ServiceContext& ctx) : ctx_(ctx) {}

  grpc::Status CreateNamespace(ServerContext* sctx, const v1::CreateNamespaceRequest* req,
                               v1::Namespace* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/CreateNamespace", *req, [&](CallerApi& api) -> Status {
      Metadata labels(req->labels().begin(), req->labels().end());
      AIFS_ASSIGN_OR_RETURN(NamespaceInfo ns, api.CreateNamespace(req->name(), labels));
      rpc::ToProto(ns, resp);
      return Status::Ok();
    });
  }

  grpc::Status DeleteNamespace(ServerContext* sctx, const v1::DeleteNamespaceRequest* req,
                               v1::Empty*) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/DeleteNamespace", *req,
                 [&](CallerApi& api) { return api.DeleteNamespace(req->name()); });
  }

  grpc::Status SetNamespacePolicy(ServerContext* sctx, const v1::SetNamespacePolicyRequest* req,
                                  v1::Namespace* resp) override {
    return Guard(
        ctx_, sctx, "/aifs.v1.Admin/SetNamespacePolicy", *req, [&](CallerApi& api) -> Status {
          AIFS_ASSIGN_OR_RETURN(NamespaceInfo ns,
                                api.SetNamespacePolicy(req->name(), rpc::FromProto(req->policy())));
          rpc::ToProto(ns, resp);
          return Status::Ok();
        });
  }

  grpc::Status PruneSnapshots(ServerContext* sctx, const v1::PruneSnapshotsRequest* req,
                              v1::PruneSnapshotsResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/PruneSnapshots", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(PruneReport r, api.PruneSnapshots(req->ns(), rpc::FromProto(*req)));
      rpc::ToProto(r, resp);
      return Status::Ok();
    });
  }

  grpc::Status Format(ServerContext* sctx, const v1::FormatRequest* req,
                      grpc::ServerWriter<v1::FormatProgress>* writer) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/Format", *req, [&](CallerApi& api) -> Status {
      v1::FormatProgress msg;
      AIFS_ASSIGN_OR_RETURN(FormatReport r, api.Format({.dry_run = req->dry_run(),
                                                        .who = req->who(),
                                                        .rebuild_index = req->rebuild_index()},
                                                       [&](const FormatStep& s) {
                                                         rpc::ToProto(s, msg.mutable_step());
                                                         writer->Write(msg);
                                                       }));
      rpc::ToProto(r, msg.mutable_done());
      writer->Write(msg);
      return Status::Ok();
    });
  }

  grpc::Status FormatHistory(ServerContext* sctx, const v1::Empty* req,
                             v1::FormatHistoryResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/FormatHistory", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(auto runs, api.FormatHistory());
      for (const FormatReport& r : runs) rpc::ToProto(r, resp->add_runs());
      return Status::Ok();
    });
  }

  grpc::Status ListPendingEmbeddings(ServerContext* sctx, const v1::ListPendingEmbeddingsRequest* req,
                                     v1::ListPendingEmbeddingsResponse* resp) override {
    return Guard(
        ctx_, sctx, "/aifs.v1.Admin/ListPendingEmbeddings", *req, [&](CallerApi& api) -> Status {
          AIFS_ASSIGN_OR_RETURN(auto pending,
                                api.ListPendingEmbeddings(req->ns(), req->space(), req->limit()));
          for (const PendingEmbedding& p : pending) rpc::ToProto(p, resp->add_pending());
          return Status::Ok();
        });
  }

  grpc::Status ReviewEmbeddings(ServerContext* sctx, const v1::ReviewEmbeddingsRequest* req,
                                v1::ReviewEmbeddingsResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/ReviewEmbeddings", *req,
                 [&](CallerApi& api) -> Status {
                   AIFS_ASSIGN_OR_RETURN(EmbeddingReview review, rpc::FromProto(*req));
                   AIFS_ASSIGN_OR_RETURN(uint64_t n, api.ReviewEmbeddings(review));
                   resp->set_reviewed(n);
                   return Status::Ok();
                 });
  }

  grpc::Status AddOperator(ServerContext* sctx, const v1::OperatorSpec* req,
                           v1::OperatorInfo* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/AddOperator", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(OperatorInfo info, api.AddOperator(rpc::FromProto(*req)));
      rpc::ToProto(info, resp);
      return Status::Ok();
    });
  }

  grpc::Status ListOperators(ServerContext* sctx, const v1::ListOperatorsRequest* req,
                             v1::ListOperatorsResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/ListOperators", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(auto ops, api.ListOperators(req->ns()));
      for (const OperatorInfo& op : ops) rpc::ToProto(op, resp->add_operators());
      return Status::Ok();
    });
  }

  grpc::Status RemoveOperator(ServerContext* sctx, const v1::OperatorRef* req,
                              v1::Empty*) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/RemoveOperator", *req,
                 [&](CallerApi& api) { return api.RemoveOperator(req->ns(), req->name()); });
  }

  grpc::Status PauseOperator(ServerContext* sctx, const v1::PauseOperatorRequest* req,
                             v1::OperatorInfo* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/PauseOperator", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(OperatorInfo info,
                            api.PauseOperator(req->ns(), req->name(), req->paused()));
      rpc::ToProto(info, resp);
      return Status::Ok();
    });
  }

  grpc::Status ListOperatorFailures(ServerContext* sctx, const v1::ListOperatorFailuresRequest* req,
                                    v1::ListOperatorFailuresResponse* resp) override {
    return Guard(
        ctx_, sctx, "/aifs.v1.Admin/ListOperatorFailures", *req, [&](CallerApi& api) -> Status {
          AIFS_ASSIGN_OR_RETURN(
              auto failures,
              api.ListOperatorFailures(req->ns(), req->name(), req->limit() ? req->limit() : 1000));
          for (const OperatorFailure& f : failures) rpc::ToProto(f, resp->add_failures());
          return Status::Ok();
        });
  }

  grpc::Status ResolveOperatorFailures(ServerContext* sctx,
                                       const v1::ResolveOperatorFailuresRequest* req,
                                       v1::ResolveOperatorFailuresResponse* resp) override {
    return Guard(
        ctx_, sctx, "/aifs.v1.Admin/ResolveOperatorFailures", *req, [&](CallerApi& api) -> Status {
          std::vector<AssetId> ids;
          for (const std::string& b : req->assets()) {
            AIFS_ASSIGN_OR_RETURN(AssetId id, rpc::ParseAssetId(b));
            ids.push_back(id);
          }
          AIFS_ASSIGN_OR_RETURN(
              uint64_t n, api.ResolveOperatorFailures(req->ns(), req->name(), ids, req->retry()));
          resp->set_resolved(n);
          return Status::Ok();
        });
  }

  grpc::Status DrainOperator(ServerContext* sctx, const v1::DrainOperatorRequest* req,
                             v1::OperatorInfo* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/DrainOperator", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(
          OperatorInfo info,
          api.DrainOperator(req->ns(), req->name(), std::chrono::milliseconds(req->timeout_ms())));
      rpc::ToProto(info, resp);
      return Status::Ok();
    });
  }

  grpc::Status CollectGarbage(ServerContext* sctx, const v1::CollectGarbageRequest* req,
                              v1::CollectGarbageResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/CollectGarbage", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(GcReport r, api.CollectGarbage(req->dry_run()));
      rpc::ToProto(r, resp);
      return Status::Ok();
    });
  }

  grpc::Status RotateKey(ServerContext* sctx, const v1::Empty* req,
                         v1::RotateKeyResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/RotateKey", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(std::string id, api.RotateKey());
      resp->set_key_id(id);
      return Status::Ok();
    });
  }

  grpc::Status CheckMetadata(ServerContext* sctx, const v1::Empty* req,
                             v1::CheckMetadataResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/CheckMetadata", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(MetadataCheck r, api.CheckMetadata());
      rpc::ToProto(r, resp);
      return Status::Ok();
    });
  }

  grpc::Status Backup(ServerContext* sctx, const v1::BackupRequest* req,
                      v1::BackupResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/Backup", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(BackupReport r, api.Backup(req->dir()));
      rpc::ToProto(r, resp);
      return Status::Ok();
    });
  }

  grpc::Status RewrapKeys(ServerContext* sctx, const v1::RewrapKeysRequest* req,
                          v1::RewrapKeysResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/RewrapKeys", *req, [&](CallerApi& api) -> Status {
      RewrapOptions o;
      if (req->batch_size()) o.batch_size = req->batch_size();
      o.max_chunks = req->max_chunks();
      o.max_resealed = req->max_resealed();
      AIFS_ASSIGN_OR_RETURN(RewrapReport r, api.RewrapKeys(o, nullptr));
      rpc::ToProto(r, resp);
      return Status::Ok();
    });
  }

  // Tokens handed out here carry the caller's caveats too (the engine adds them).
  grpc::Status MintToken(ServerContext* sctx, const v1::MintTokenRequest* req,
                         v1::TokenResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/MintToken", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(std::string token,
                            api.MintToken({req->caveats().begin(), req->caveats().end()}));
      resp->set_token(token);
      return Status::Ok();
    });
  }

  grpc::Status RevokeToken(ServerContext* sctx, const v1::RevokeTokenRequest* req,
                           v1::Empty*) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/RevokeToken", *req,
                 [&](CallerApi& api) { return api.RevokeToken(req->token_or_id()); });
  }

  grpc::Status ListTokenKeys(ServerContext* sctx, const v1::Empty* req,
                             v1::ListTokenKeysResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/ListTokenKeys", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(TokenKeyring ring, api.ListTokenKeys());
      rpc::ToProto(ring, resp);
      return Status::Ok();
    });
  }

  grpc::Status RotateTokenRoot(ServerContext* sctx, const v1::RotateTokenRootRequest* req,
                               v1::RotateTokenRootResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/RotateTokenRoot", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(RotatedTokenRoot r,
                            api.RotateTokenRoot({req->caveats().begin(), req->caveats().end()}));
      resp->set_key_id(r.key_id);
      resp->set_token(r.token);
      return Status::Ok();
    });
  }

  grpc::Status RevokeTokenRoot(ServerContext* sctx, const v1::RevokeTokenRootRequest* req,
                               v1::Empty*) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/RevokeTokenRoot", *req,
                 [&](CallerApi& api) { return api.RevokeTokenRoot(req->key_id()); });
  }

  grpc::Status ListUrlKeys(ServerContext* sctx, const v1::Empty* req,
                           v1::ListTokenKeysResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/ListUrlKeys", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(auto keys, api.ListUrlKeys());
      rpc::ToProto(TokenKeyring{.keys = keys}, resp);
      return Status::Ok();
    });
  }

  grpc::Status RotateUrlKey(ServerContext* sctx, const v1::Empty* req,
                            v1::RotateKeyResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/RotateUrlKey", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(std::string id, api.RotateUrlKey());
      resp->set_key_id(id);
      return Status::Ok();
    });
  }

  grpc::Status RevokeUrlKey(ServerContext* sctx, const v1::RevokeTokenRootRequest* req,
                            v1::Empty*) override {
    return Guard(ctx_, sctx, "/aifs.v1.Admin/RevokeUrlKey", *req,
                 [&](CallerApi& api) { return api.RevokeUrlKey(req->key_id()); });
  }

 private:
  ServiceContext& ctx_;
};

class IntrospectService final : public v1::Introspect::Service {
 public:
  explicit IntrospectService(ServiceContext& ctx) : ctx_(ctx) {}

  grpc::Status GetInfo(ServerContext* sctx, const v1::Empty* req, v1::StoreInfo* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Introspect/GetInfo", *req, [&](CallerApi& api) -> Status {
      AIFS_ASSIGN_OR_RETURN(StoreDescription d, api.DescribeStore());
      rpc::ToProto(d, resp);
      resp->set_version(std::string(kVersion));
      resp->set_build(std::string(kBuild));
      for (const char* f : {"zstd-frames", "stored-reads", "read-streams", "events", "transactions",
                            "lineage", "snapshots", "branches", "tags", "proofs"})
        resp->add_features(f);
      resp->set_max_frame_bytes(rpc::kMaxFrameBytes);
      resp->set_tls(ctx_.tls);
      resp->set_http_url(ctx_.http_url);
      return Status::Ok();
    });
  }

 private:
  ServiceContext& ctx_;
};

class MetricsService final : public v1::Metrics::Service {
 public:
  explicit MetricsService(ServiceContext& ctx) : ctx_(ctx) {}

  grpc::Status GetMetrics(ServerContext* sctx, const v1::Empty* req,
                          v1::MetricsResponse* resp) override {
    return Guard(ctx_, sctx, "/aifs.v1.Metrics/GetMetrics", *req, [&](CallerApi& api) {
      resp->set_content_type("text/plain; version=0.0.4");
      resp->set_text(ctx_.metrics.Render(api, ctx_.transactions.open_count(),
                                         ctx_.puts ? ctx_.puts->in_use() : 0));
      return Status::Ok();
    });
  }

 private:
  ServiceContext& ctx_;
};

}  // namespace

std::unique_ptr<v1::Admin::Service> NewAdminService(ServiceContext& ctx) {
  return std::make_unique<AdminService>(ctx);
}
std::unique_ptr<v1::Introspect::Service> NewIntrospectService(ServiceContext& ctx) {
  return std::make_unique<IntrospectService>(ctx);
}
std::unique_ptr<v1::Metrics::Service> NewMetricsService(ServiceContext& ctx) {
  return std::make_unique<MetricsService>(ctx);
}

}  // namespace aifs::server
