// Server metrics in the Prometheus text exposition format: per-RPC counts by
// status code and latency histograms, HTTP-plane requests by status and their
// latency (recorded by an interceptor, so no RPC
// is left out), data bytes in and out, and store gauges computed on demand.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include "aifs/api/api.h"

namespace aifs::server {

class Metrics {
 public:
  void RecordRpc(const std::string& method, int code, double seconds);
  // One HTTP-plane request (http_plane.h): its status and seconds taken.
  void RecordHttp(int status, double seconds);
  void AddBytesIn(uint64_t n) { bytes_in_ += n; }
  void AddBytesOut(uint64_t n) { bytes_out_ += n; }
  void AddWireBytesIn(uint64_t n) { wire_in_ += n; }
  void AddWireBytesOut(uint64_t n) { wire_out_ += n; }
  // Everything, with store-wide gauges (assets, chunks, logical and stored
  // bytes, dedup and compression ratios) read from `api` now, and the
  // server's own: remote transactions open, puts admitted and running.
  std::string Render(Api& api, size_t open_transactions, size_t puts_in_flight);

  // An interceptor factory feeding RecordRpc; give it to the ServerBuilder.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory();

 private:
  static constexpr std::array<double, 14> kBuckets = {
      0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30};
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> buckets{};
    uint64_t count = 0;
    double sum = 0;
  };
  std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> calls_;  // (method, code) -> count
  std::map<std::string, Histogram> latency_;
  std::map<int, uint64_t> http_requests_;  // HTTP status -> count
  Histogram http_latency_;
  std::atomic<uint64_t> bytes_in_{0}, bytes_out_{0}, wire_in_{0}, wire_out_{0};
};

}  // namespace aifs::server
