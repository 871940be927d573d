// ReadStreamPool: a client's open Aifs.ReadRangesStream streams, reused from
// one batched read to the next, so a small read costs one round trip on an
// open stream instead of a call's setup (bench/README.md, "Issue 16: small
// reads from a separate server").
//
// Promise: Read() answers as one ReadRanges call would: the same bytes to the
// sink, in the same order, with the same checks (rpc::RangeUnpacker) and the
// same errors. Each Read has a stream to itself, taken from the pool or
// opened; it goes back to the pool only after a read that ended cleanly, and
// any error discards it. A pooled stream the server ended while it waited
// (idle timeout, restart, shutdown) fails before its first answer and is
// replaced by a new stream once, so callers do not see that. At most
// `max_idle` streams are kept between reads, none idle for longer than
// `max_idle_age` (keep it under the server's read_stream_idle). Thread-safe.
// The stub must outlive the pool; destroying the pool cancels its streams.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "aifs/api/api.h"
#include "aifs/v1/aifs.grpc.pb.h"

namespace aifs {

class ReadStreamPool {
 public:
  explicit ReadStreamPool(v1::Aifs::Stub* stub, size_t max_idle = 16,
                          std::chrono::milliseconds max_idle_age = std::chrono::seconds(30));
  ~ReadStreamPool();
  ReadStreamPool(const ReadStreamPool&) = delete;
  ReadStreamPool& operator=(const ReadStreamPool&) = delete;

  // `req` must describe `ranges` (rpc::ToProto).
  Status Read(const v1::ReadRangesRequest& req, std::span<const RangeRead> ranges,
              const RangeSink& sink);

  // Streams opened since the pool was made (for tests and benchmarks).
  uint64_t opened() const;

 private:
  struct Stream;
  std::unique_ptr<Stream> Take();
  void Give(std::unique_ptr<Stream> stream);

  v1::Aifs::Stub* const stub_;
  const size_t max_idle_;
  const std::chrono::milliseconds max_idle_age_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Stream>> idle_;  // most recently used last
  uint64_t opened_ = 0;
};

}  // namespace aifs
