// Translation between the ingest-operator value types (api/operator_spec.h)
// and their aifs.v1 messages, for the server and the client alike. Parsing
// answers INVALID_ARGUMENT with a stable reason (BAD_ASSET_ID) on bad IDs.
#pragma once

#include "aifs/api/operator_spec.h"
#include "aifs/v1/aifs.pb.h"

namespace aifs::rpc {

void ToProto(const OperatorSpec& in, v1::OperatorSpec* out);
OperatorSpec FromProto(const v1::OperatorSpec& in);
void ToProto(const OperatorInfo& in, v1::OperatorInfo* out);
Result<OperatorInfo> FromProto(const v1::OperatorInfo& in);
void ToProto(const OperatorFailure& in, v1::OperatorFailure* out);
Result<OperatorFailure> FromProto(const v1::OperatorFailure& in);

}  // namespace aifs::rpc
