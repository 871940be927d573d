#include "aifs/server/malformed_request.h"

#include "aifs/rpc/status_codec.h"

namespace aifs::server {

namespace {

class MalformedRequestInterceptor : public grpc::experimental::Interceptor {
 public:
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    // A message that failed to parse reaches this hook as nullptr.
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr)
      parse_failed_ = true;
    if (parse_failed_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status sent = methods->GetSendStatus();
      if (sent.error_code() == grpc::StatusCode::INTERNAL && sent.error_details().empty())
        methods->ModifySendStatus(rpc::ToGrpc(err::InvalidArgument(
            "REQUEST_MALFORMED",
            "the request message could not be parsed (malformed protobuf, or a string field "
            "that is not valid UTF-8)")));
    }
    methods->Proceed();
  }

 private:
  bool parse_failed_ = false;
};

class Factory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo*) override {
    return new MalformedRequestInterceptor;
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewMalformedRequestInterceptorFactory() {
  return std::make_unique<Factory>();
}

}  // namespace aifs::server
