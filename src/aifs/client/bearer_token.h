// Sends the caller's AIFS token with every call of a channel, as
// `authorization: Bearer <token>` metadata. An interceptor rather than gRPC
// call credentials, because those refuse plaintext channels, and the token is
// checked independent of TLS.
#pragma once

#include <grpcpp/support/client_interceptor.h>

#include <memory>
#include <string>

namespace aifs {

std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface> NewBearerTokenInterceptor(
    std::string token);

}  // namespace aifs
