// MalformedRequestInterceptor: a request the server cannot parse is answered
// like every other error.
//
// gRPC parses a unary request before any handler runs; when that fails (bad
// wire format, or a proto3 string field that is not valid UTF-8) it answers
// INTERNAL with no details, which would blame the server for the client's
// bytes and leave the client without a reason. This interceptor notices the
// failed parse and turns that status into INVALID_ARGUMENT REQUEST_MALFORMED
// with the usual google.rpc.Status + ErrorInfo (domain "aifs").
//
// Promise: only calls whose received message failed to parse are changed;
// every other status (including the handlers' own INTERNAL errors, which
// carry details) passes untouched.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>

namespace aifs::server {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewMalformedRequestInterceptorFactory();

}  // namespace aifs::server
