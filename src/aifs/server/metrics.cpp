#include "aifs/server/metrics.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <sstream>

#include "aifs/core/status.h"

namespace aifs::server {

namespace {

class RpcTimer : public grpc::experimental::Interceptor {
 public:
  RpcTimer(Metrics& metrics, std::string method)
      : metrics_(metrics), method_(std::move(method)), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      metrics_.RecordRpc(method_, methods->GetSendStatus().error_code(), secs);
    }
    methods->Proceed();
  }

 private:
  Metrics& metrics_;
  std::string method_;
  std::chrono::steady_clock::time_point start_;
};

class RpcTimerFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcTimerFactory(Metrics& metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcTimer(metrics_, info->method());
  }

 private:
  Metrics& metrics_;
};

// A sample value or `le` bound as Prometheus reads it: the shortest text that
// parses back to the same double ("0.0005", not "0.00050000000000000001";
// integral byte counts exactly), NaN and infinities spelled its way.
std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Plain decimals where they stay short (bucket bounds, byte counts,
  // seconds), the exponent form only for the very small or very large.
  const double mag = std::fabs(v);
  const bool plain = v == 0 || (mag >= 1e-6 && mag < 1e21);
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v,
                               plain ? std::chars_format::fixed : std::chars_format::general);
  return std::string(buf, r.ptr);
}

void Gauge(std::ostringstream& out, const char* name, const char* help, double value) {
  out << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n"
      << name << " " << Number(value) << "\n";
}

void Counter(std::ostringstream& out, const char* name, const char* help, uint64_t value) {
  out << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n"
      << name << " " << value << "\n";
}

}  // namespace

void Metrics::RecordRpc(const std::string& method, int code, double seconds) {
  std::lock_guard lock(mu_);
  ++calls_[{method, code}];
  Histogram& h = latency_[method];
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++h.buckets[i];
  ++h.count;
  h.sum += seconds;
}

void Metrics::RecordHttp(int status, double seconds) {
  std::lock_guard lock(mu_);
  ++http_requests_[status];
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++http_latency_.buckets[i];
  ++http_latency_.count;
  http_latency_.sum += seconds;
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
Metrics::InterceptorFactory() {
  return std::make_unique<RpcTimerFactory>(*this);
}

std::string Metrics::Render(Api& api, size_t open_transactions, size_t puts_in_flight) {
  std::ostringstream out;
  {
    std::lock_guard lock(mu_);
    out << "# HELP aifs_rpc_calls_total RPCs handled, by method and gRPC status code.\n"
        << "# TYPE aifs_rpc_calls_total counter\n";
    for (const auto& [key, n] : calls_)
      out << "aifs_rpc_calls_total{method=\"" << key.first << "\",code=\""
          << CodeName(static_cast<Code>(key.second)) << "\"} " << n << "\n";
    out << "# HELP aifs_rpc_duration_seconds RPC latency, by method.\n"
        << "# TYPE aifs_rpc_duration_seconds histogram\n";
    for (const auto& [method, h] : latency_) {
      for (size_t i = 0; i < kBuckets.size(); ++i)
        out << "aifs_rpc_duration_seconds_bucket{method=\"" << method << "\",le=\""
            << Number(kBuckets[i]) << "\"} " << h.buckets[i] << "\n";
      out << "aifs_rpc_duration_seconds_bucket{method=\"" << method << "\",le=\"+Inf\"} "
          << h.count << "\n";
      out << "aifs_rpc_duration_seconds_sum{method=\"" << method << "\"} " << Number(h.sum) << "\n";
      out << "aifs_rpc_duration_seconds_count{method=\"" << method << "\"} " << h.count << "\n";
    }
    out << "# HELP aifs_http_requests_total HTTP-plane requests answered, by HTTP status.\n"
        << "# TYPE aifs_http_requests_total counter\n";
    for (const auto& [status, n] : http_requests_)
      out << "aifs_http_requests_total{code=\"" << status << "\"} " << n << "\n";
    out << "# HELP aifs_http_request_seconds HTTP-plane request latency, head to last byte.\n"
        << "# TYPE aifs_http_request_seconds histogram\n";
    for (size_t i = 0; i < kBuckets.size(); ++i)
      out << "aifs_http_request_seconds_bucket{le=\"" << Number(kBuckets[i]) << "\"} "
          << http_latency_.buckets[i] << "\n";
    out << "aifs_http_request_seconds_bucket{le=\"+Inf\"} " << http_latency_.count << "\n"
        << "aifs_http_request_seconds_sum " << Number(http_latency_.sum) << "\n"
        << "aifs_http_request_seconds_count " << http_latency_.count << "\n";
  }
  Counter(out, "aifs_data_bytes_in_total", "Asset bytes received in puts.", bytes_in_);
  Counter(out, "aifs_data_bytes_out_total", "Asset bytes sent by reads.", bytes_out_);
  Counter(out, "aifs_wire_bytes_in_total", "Data frame bytes received (after zstd).", wire_in_);
  Counter(out, "aifs_wire_bytes_out_total", "Data frame bytes sent (after zstd).", wire_out_);
  Gauge(out, "aifs_open_transactions", "Remote transactions not yet committed or aborted.",
        static_cast<double>(open_transactions));
  Gauge(out, "aifs_puts_in_flight", "Puts admitted and not yet finished (capped by --max-puts).",
        static_cast<double>(puts_in_flight));
  if (auto store = api.DescribeStore(); store.ok())
    Counter(out, "aifs_txn_conflicts_retried_total",
            "Metadata transactions run again after a conflict (writers racing on one record, "
            "such as a namespace's).",
            store->txn_conflicts_retried);
  auto namespaces = api.ListNamespaces();
  if (namespaces.ok()) {
    uint64_t assets = 0, chunks = 0, logical = 0, unique = 0, stored = 0;
    for (const NamespaceInfo& ns : *namespaces) {
      assets += ns.asset_count;
      chunks += ns.chunk_count;
      logical += ns.logical_bytes;
      unique += ns.unique_bytes;
      stored += ns.stored_bytes;
    }
    auto ratio = [](uint64_t a, uint64_t b) {
      return b ? static_cast<double>(a) / static_cast<double>(b) : 1.0;
    };
    Gauge(out, "aifs_namespaces", "Namespaces.", static_cast<double>(namespaces->size()));
    Gauge(out, "aifs_assets", "Live assets in all namespaces.", static_cast<double>(assets));
    Gauge(out, "aifs_chunks", "Distinct stored chunks.", static_cast<double>(chunks));
    Gauge(out, "aifs_logical_bytes", "Sum of asset sizes.", static_cast<double>(logical));
    Gauge(out, "aifs_unique_bytes", "Plaintext bytes of the distinct chunks.",
          static_cast<double>(unique));
    Gauge(out, "aifs_stored_bytes", "Bytes of sealed chunk objects.", static_cast<double>(stored));
    Gauge(out, "aifs_dedup_ratio", "Logical bytes per distinct chunk byte.",
          ratio(logical, unique));
    Gauge(out, "aifs_compression_ratio", "Distinct chunk bytes per stored byte.",
          ratio(unique, stored));
    Gauge(out, "aifs_space_saving_ratio", "Logical bytes per stored byte (both together).",
          ratio(logical, stored));
  }
  if (namespaces.ok()) {
    out << "# HELP aifs_vector_index_vectors Vectors in each embedding space's index.\n"
        << "# TYPE aifs_vector_index_vectors gauge\n";
    for (const NamespaceInfo& ns : *namespaces) {
      auto spaces = api.ListSpaces(ns.name);
      if (!spaces.ok()) continue;
      for (const EmbeddingSpace& s : *spaces)
        out << "aifs_vector_index_vectors{ns=\"" << ns.name << "\",space=\"" << s.name
            << "\",dim=\"" << s.dim << "\"} " << s.vectors << "\n";
    }
  }
  Gauge(out, "aifs_store_up", "1 when the store answered the metrics scrape.",
        namespaces.ok() ? 1 : 0);
  return out.str();
}

}  // namespace aifs::server
