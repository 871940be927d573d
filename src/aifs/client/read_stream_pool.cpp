#include "aifs/client/read_stream_pool.h"

#include <utility>

#include "aifs/rpc/range_frames.h"
#include "aifs/rpc/status_codec.h"

namespace aifs {

struct ReadStreamPool::Stream {
  explicit Stream(v1::Aifs::Stub* stub) : rw(stub->ReadRangesStream(&ctx)) {}
  // A stream not finished cleanly is cancelled, then finished (gRPC wants
  // every call finished before its context goes).
  ~Stream() {
    if (finished) return;
    ctx.TryCancel();
    (void)rw->Finish();
  }
  Status Finish() {
    finished = true;
    return rpc::FromGrpc(rw->Finish());
  }

  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<v1::ReadRangesRequest, v1::ReadRangesResponse>> rw;
  std::chrono::steady_clock::time_point idle_since;
  bool reused = false;
  bool finished = false;
};

ReadStreamPool::ReadStreamPool(v1::Aifs::Stub* stub, size_t max_idle,
                               std::chrono::milliseconds max_idle_age)
    : stub_(stub), max_idle_(max_idle), max_idle_age_(max_idle_age) {}

ReadStreamPool::~ReadStreamPool() = default;

uint64_t ReadStreamPool::opened() const {
  std::lock_guard lock(mu_);
  return opened_;
}

std::unique_ptr<ReadStreamPool::Stream> ReadStreamPool::Take() {
  std::vector<std::unique_ptr<Stream>> stale;  // cancelled outside the lock
  {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    while (!idle_.empty()) {
      std::unique_ptr<Stream> s = std::move(idle_.back());
      idle_.pop_back();
      if (now - s->idle_since < max_idle_age_) return s;
      stale.push_back(std::move(s));
    }
    ++opened_;
  }
  return std::make_unique<Stream>(stub_);
}

void ReadStreamPool::Give(std::unique_ptr<Stream> stream) {
  stream->idle_since = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(stream));
  // else: destroyed here, which cancels it (the server ends it at once)
}

Status ReadStreamPool::Read(const v1::ReadRangesRequest& req, std::span<const RangeRead> ranges,
                            const RangeSink& sink) {
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Stream> s = Take();
    const bool reused = std::exchange(s->reused, true);
    rpc::RangeUnpacker unpacker(ranges, sink);
    v1::ReadRangesResponse msg;
    bool answered = false;
    if (s->rw->Write(req)) {
      while (s->rw->Read(&msg)) {
        answered = true;
        AIFS_RETURN_IF_ERROR(unpacker.Take(msg));  // the stream is dropped (cancelled)
        if (msg.done()) {
          Give(std::move(s));
          return Status::Ok();
        }
      }
    }
    // The stream ended without answering this request in full.
    Status server = s->Finish();
    const bool ended_while_waiting =
        server.ok() || server.code() == Code::kUnavailable || server.code() == Code::kCancelled;
    if (reused && !answered && attempt == 0 && ended_while_waiting) continue;
    if (!server.ok()) return server;
    return unpacker.Finish();  // READ_STREAM_INCOMPLETE
  }
}

}  // namespace aifs
