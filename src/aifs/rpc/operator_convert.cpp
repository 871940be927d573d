#include "aifs/rpc/operator_convert.h"

#include "aifs/rpc/convert.h"

namespace aifs::rpc {

void ToProto(const OperatorSpec& in, v1::OperatorSpec* out) {
  out->set_ns(in.ns);
  out->set_name(in.name);
  out->set_kind(in.kind);
  out->set_match(in.match);
  for (const auto& [k, v] : in.params) (*out->mutable_params())[k] = v;
  out->set_backfill(in.backfill);
}

OperatorSpec FromProto(const v1::OperatorSpec& in) {
  OperatorSpec spec;
  spec.ns = in.ns();
  spec.name = in.name();
  spec.kind = in.kind();
  spec.match = in.match();
  spec.params = std::map<std::string, std::string>(in.params().begin(), in.params().end());
  spec.backfill = in.backfill();
  return spec;
}

void ToProto(const OperatorInfo& in, v1::OperatorInfo* out) {
  ToProto(in.spec, out->mutable_spec());
  out->set_paused(in.paused);
  out->set_created_unix_ns(in.created_unix_ns);
  out->set_who(in.who);
  out->set_cursor(in.cursor);
  out->set_log_head(in.log_head);
  out->set_backfilling(in.backfilling);
  out->set_processed(in.processed);
  out->set_produced(in.produced);
  out->set_failed(in.failed);
  out->set_retries(in.retries);
  out->set_state(in.state);
  out->set_last_error(in.last_error);
}

Result<OperatorInfo> FromProto(const v1::OperatorInfo& in) {
  OperatorInfo info;
  info.spec = FromProto(in.spec());
  info.paused = in.paused();
  info.created_unix_ns = in.created_unix_ns();
  info.who = in.who();
  info.cursor = in.cursor();
  info.log_head = in.log_head();
  info.backfilling = in.backfilling();
  info.processed = in.processed();
  info.produced = in.produced();
  info.failed = in.failed();
  info.retries = in.retries();
  info.state = in.state();
  info.last_error = in.last_error();
  return info;
}

void ToProto(const OperatorFailure& in, v1::OperatorFailure* out) {
  out->set_asset(Raw(in.asset.bytes()));
  out->set_attempts(in.attempts);
  out->set_reason(in.reason);
  out->set_message(in.message);
  out->set_unix_ns(in.unix_ns);
}

Result<OperatorFailure> FromProto(const v1::OperatorFailure& in) {
  OperatorFailure f;
  AIFS_ASSIGN_OR_RETURN(f.asset, ParseAssetId(in.asset()));
  f.attempts = in.attempts();
  f.reason = in.reason();
  f.message = in.message();
  f.unix_ns = in.unix_ns();
  return f;
}

}  // namespace aifs::rpc
