// A RAM-backed aifs.v1 server for aifs_grpc_bench: the ceiling of the remote
// path (see the class comment).
#pragma once

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "aifs/client/remote_api.h"
#include "aifs/rpc/convert.h"
#include "aifs/rpc/frames.h"
#include "aifs/rpc/range_frames.h"
#include "aifs/v1/aifs.grpc.pb.h"
#include "bench_util.h"
#include "datasets.h"

namespace aifs::bench {

inline aifs::RemoteOptions::Zstd ZstdMode(bool on) {
  return on ? aifs::RemoteOptions::Zstd::kOn : aifs::RemoteOptions::Zstd::kOff;
}

// The gRPC layer alone: a bare aifs.v1 server (generated services; every
// method the benchmark does not call answers UNIMPLEMENTED) that serves
// ReadAsset, ReadRanges and GetAsset from RAM and counts and drops puts, with
// the same frame encoding (rpc::FrameEncoder / DecodeFrame, rpc::RangePacker)
// as the real server. The
// real client (ConnectRemote) talks to it. What it reaches is the ceiling of
// the remote path on this machine: client + protobuf + HTTP/2 + loopback
// TCP + frame codec, without an engine (and without the real server's
// metrics interceptor). It is written against the generated services, not
// against aifs::Api, so it keeps compiling while the Api grows.

class RamAifsService final : public aifs::v1::Aifs::Service {
 public:
  // Returns the ID under which `d` is served.
  std::string Add(const Dataset& d) {
    std::string id(aifs::AssetId::kSize, '\0');
    id[0] = static_cast<char>(assets_.size() + 1);
    assets_.push_back({id, &d});
    return id;
  }

  grpc::Status GetAsset(grpc::ServerContext*, const aifs::v1::GetAssetRequest* req,
                        aifs::v1::GetAssetResponse* resp) override {
    const Dataset* d = Find(req->id());
    if (!d) return grpc::Status(grpc::StatusCode::NOT_FOUND, "not in the RAM backend");
    auto* a = resp->mutable_asset();
    a->set_ns(req->ns());
    a->set_id(req->id());
    a->set_kind(aifs::v1::ASSET_KIND_BLOB);
    a->set_size(d->bytes.size());
    a->set_chunk_count(d->bytes.size() / kMiB);
    (*a->mutable_metadata())["bench"] = "grpc";
    (*a->mutable_metadata())["dataset"] = d->name;
    return grpc::Status::OK;
  }

  grpc::Status ReadAsset(grpc::ServerContext* ctx, const aifs::v1::ReadAssetRequest* req,
                         grpc::ServerWriter<aifs::v1::ReadAssetResponse>* writer) override {
    const Dataset* d = Find(req->id());
    if (!d) return grpc::Status(grpc::StatusCode::NOT_FOUND, "not in the RAM backend");
    const uint64_t size = d->bytes.size();
    if (req->offset() > size) return grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "offset");
    const uint64_t len = req->has_length() ? req->length() : size;
    const uint64_t end = size - req->offset() < len ? size : req->offset() + len;
    aifs::rpc::FrameEncoder encoder(req->accept_zstd());
    aifs::v1::ReadAssetResponse frame;
    const auto options = grpc::WriteOptions().set_no_compression();
    for (uint64_t off = req->offset(); off < end;) {
      const size_t n =
          static_cast<size_t>(std::min<uint64_t>(end - off, aifs::rpc::kMaxFrameBytes));
      frame.set_offset(off);
      encoder.Encode(aifs::ByteSpan(d->bytes.data() + off, n), frame.mutable_data());
      if (!writer->Write(frame, options) || ctx->IsCancelled())
        return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
      off += n;
    }
    wire_out_ += encoder.wire_bytes();
    return grpc::Status::OK;
  }

  grpc::Status ReadRanges(grpc::ServerContext* ctx, const aifs::v1::ReadRangesRequest* req,
                          grpc::ServerWriter<aifs::v1::ReadRangesResponse>* writer) override {
    auto ranges = aifs::rpc::FromProto(*req);
    if (!ranges.ok()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad range");
    const auto options = grpc::WriteOptions().set_no_compression();
    aifs::rpc::RangePacker packer(*ranges, req->accept_zstd(),
                                  [&](const aifs::v1::ReadRangesResponse& m) -> aifs::Status {
                                    if (!writer->Write(m, options) || ctx->IsCancelled())
                                      return aifs::err::Cancelled("X", "client went away");
                                    return aifs::Status::Ok();
                                  });
    for (size_t i = 0; i < ranges->size(); ++i) {
      const aifs::RangeRead& r = (*ranges)[i];
      const Dataset* d = Find(std::string(aifs::rpc::Raw(r.id.bytes())));
      if (!d) return grpc::Status(grpc::StatusCode::NOT_FOUND, "not in the RAM backend");
      const uint64_t size = d->bytes.size();
      if (r.offset > size) return grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "offset");
      const uint64_t n = std::min(r.length, size - r.offset);
      if (n == 0) continue;
      if (!packer.Add(i, aifs::ByteSpan(d->bytes.data() + r.offset, n)).ok())
        return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    }
    if (!packer.Finish().ok()) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    wire_out_ += packer.wire_bytes();
    return grpc::Status::OK;
  }

  grpc::Status PutAsset(grpc::ServerContext*, grpc::ServerReader<aifs::v1::PutAssetRequest>* reader,
                        aifs::v1::PutAssetResponse* resp) override {
    aifs::v1::PutAssetRequest msg;
    if (!reader->Read(&msg) || !msg.has_header())
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no header");
    const std::string ns = msg.header().ns();
    aifs::Bytes scratch;
    uint64_t bytes = 0;
    for (;;) {
      if (!reader->Read(&msg)) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "truncated");
      if (msg.has_finish()) break;
      auto raw = aifs::rpc::DecodeFrame(msg.data(), scratch);
      if (!raw.ok())
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, raw.status().message());
      wire_in_ += msg.data().data().size();
      bytes += raw->size();
      if (!raw->empty()) g_sink = g_sink + (*raw)[0];
    }
    auto* a = resp->mutable_asset();
    a->set_ns(ns);
    a->set_id(std::string(aifs::AssetId::kSize, '\0'));
    a->set_kind(aifs::v1::ASSET_KIND_BLOB);
    a->set_size(bytes);
    resp->set_created(true);
    return grpc::Status::OK;
  }

  double wire_in() const { return static_cast<double>(wire_in_.load()); }
  double wire_out() const { return static_cast<double>(wire_out_.load()); }

 private:
  const Dataset* Find(const std::string& id) const {
    for (const auto& [aid, d] : assets_)
      if (aid == id) return d;
    return nullptr;
  }
  std::vector<std::pair<std::string, const Dataset*>> assets_;
  std::atomic<uint64_t> wire_in_{0}, wire_out_{0};
};

class RamIntrospectService final : public aifs::v1::Introspect::Service {
 public:
  grpc::Status GetInfo(grpc::ServerContext*, const aifs::v1::Empty*,
                       aifs::v1::StoreInfo* resp) override {
    resp->set_version("bench");
    resp->set_data_dir("(RAM)");
    resp->add_features("zstd-frames");
    resp->set_max_frame_bytes(static_cast<uint32_t>(aifs::rpc::kMaxFrameBytes));
    return grpc::Status::OK;
  }
};

struct RamEndpoint {
  RamAifsService aifs;
  RamIntrospectService introspect;
  std::unique_ptr<grpc::Server> server;
  std::string target;
  std::unique_ptr<aifs::Api> raw, zstd;  // the real RemoteApi, zstd frames off / on
  std::vector<aifs::AssetId> ids;        // one per data set

  RamEndpoint(const std::vector<Dataset>& sets) {
    for (const Dataset& d : sets) {
      auto id = aifs::AssetId::FromBytes(aifs::AsBytes(aifs.Add(d)));
      if (!id) Fail("RAM backend: bad asset ID");
      ids.push_back(*id);
    }
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.SetMaxReceiveMessageSize(8 << 20);  // as the real server
    builder.RegisterService(&aifs);
    builder.RegisterService(&introspect);
    server = builder.BuildAndStart();
    if (!server || port == 0) Fail("RAM backend: cannot listen on 127.0.0.1:0");
    target = "127.0.0.1:" + std::to_string(port);
    for (bool z : {false, true}) {
      auto client = aifs::ConnectRemote(aifs::RemoteOptions{.target = target, .zstd = ZstdMode(z)});
      Check(client.status(), "ConnectRemote " + target);
      (z ? zstd : raw) = std::move(client).value();
    }
  }
  ~RamEndpoint() {
    raw.reset();
    zstd.reset();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server->Wait();
  }
  aifs::Api& Client(bool z) { return z ? *zstd : *raw; }
};

}  // namespace aifs::bench
