#include "aifs/rpc/status_codec.h"

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace aifs::rpc {

grpc::Status ToGrpc(const Status& status, const Metadata& info) {
  if (status.ok()) return grpc::Status::OK;
  // The message travels twice (grpc-message, percent-encoded: up to 3x, and
  // inside the base64 details: 4/3x) in headers a client caps at 8 KiB by
  // default; whatever a handler put in it, the status stays well under that.
  const std::string message = err::Echo(status.message(), kMaxWireMessageBytes);
  google::rpc::ErrorInfo error;
  error.set_reason(err::Echo(status.reason()));
  error.set_domain(std::string(kErrorDomain));
  size_t metadata_bytes = 0;
  for (const auto& [key, value] : info) {
    metadata_bytes += key.size() + value.size();
    if (metadata_bytes > kMaxWireMessageBytes) break;  // the rest would not fit
    error.mutable_metadata()->insert({key, value});
  }
  google::rpc::Status details;
  details.set_code(static_cast<int>(status.code()));
  details.set_message(message);
  details.add_details()->PackFrom(error);
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), message,
                      details.SerializeAsString());
}

grpc::Status WithRetryInfo(const grpc::Status& status, std::chrono::milliseconds delay) {
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return status;
  google::rpc::RetryInfo retry;
  retry.mutable_retry_delay()->set_seconds(delay.count() / 1000);
  retry.mutable_retry_delay()->set_nanos(static_cast<int32_t>(delay.count() % 1000) * 1000000);
  details.add_details()->PackFrom(retry);
  return grpc::Status(status.error_code(), status.error_message(), details.SerializeAsString());
}

std::string CancelMessage(std::string_view reason, std::string_view message) {
  return "aifs:" + std::string(reason) + ": " + std::string(message);
}

namespace {
// "aifs:<REASON>: <message>" from CancelMessage, else false.
bool ParseCancelMessage(const std::string& text, std::string& reason, std::string& message) {
  constexpr std::string_view kPrefix = "aifs:";
  if (text.compare(0, kPrefix.size(), kPrefix) != 0) return false;
  const size_t end = text.find(": ", kPrefix.size());
  if (end == std::string::npos || end == kPrefix.size()) return false;
  for (size_t i = kPrefix.size(); i < end; ++i) {
    const char c = text[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  reason = text.substr(kPrefix.size(), end - kPrefix.size());
  message = text.substr(end + 2);
  return true;
}
}  // namespace

Status FromGrpc(const grpc::Status& status, Metadata* info) {
  if (status.ok()) return Status::Ok();
  const Code code = static_cast<Code>(status.error_code());
  google::rpc::Status details;
  if (!status.error_details().empty() && details.ParseFromString(status.error_details())) {
    for (const auto& any : details.details()) {
      google::rpc::ErrorInfo error;
      if (!any.Is<google::rpc::ErrorInfo>() || !any.UnpackTo(&error)) continue;
      if (error.domain() != kErrorDomain) continue;
      if (info) info->insert(error.metadata().begin(), error.metadata().end());
      return Status(code, error.reason(), status.error_message());
    }
  }
  std::string reason, message;
  if (ParseCancelMessage(status.error_message(), reason, message))
    return Status(code, reason, message);
  return Status(code, std::string(CodeName(code)), status.error_message());
}

}  // namespace aifs::rpc
