// Status on the wire: an aifs::Status becomes the gRPC code plus a
// google.rpc.Status in `grpc-status-details-bin` carrying an ErrorInfo
// (domain "aifs", the stable reason, optional metadata), and back.
#pragma once

#include <grpcpp/support/status.h>

#include <chrono>

#include "aifs/api/types.h"

namespace aifs::rpc {

inline constexpr std::string_view kErrorDomain = "aifs";

// The most of a message (and of ErrorInfo metadata) put on the wire; longer
// ones are cut by err::Echo, so an encoded status stays far below gRPC's
// default 8 KiB limit on response headers.
inline constexpr size_t kMaxWireMessageBytes = 1024;

grpc::Status ToGrpc(const Status& status, const Metadata& info = {});

// `status` (from ToGrpc) with a google.rpc.RetryInfo detail: when to retry.
grpc::Status WithRetryInfo(const grpc::Status& status, std::chrono::milliseconds delay);

// The message a server-side cancellation carries when it cannot send details
// (a call cancelled from outside its handler, e.g. a stalled put): the code
// still travels, and FromGrpc recovers the reason from "aifs:<REASON>: <msg>".
std::string CancelMessage(std::string_view reason, std::string_view message);

// `info`, when given, receives the ErrorInfo metadata. Errors that did not
// come from an AIFS server (transport failures) get the code's name as their
// reason, e.g. UNAVAILABLE/UNAVAILABLE.
Status FromGrpc(const grpc::Status& status, Metadata* info = nullptr);

// Runs a handler body written with the AIFS_* macros and puts its Status on
// the wire.
template <typename Body>
grpc::Status RunRpc(Body&& body) {
  return ToGrpc(body());
}

}  // namespace aifs::rpc
