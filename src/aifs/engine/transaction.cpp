#include "aifs/engine/transaction.h"

#include "aifs/engine/asset_writer.h"

namespace aifs {

namespace {
Status Finished() {
  return err::FailedPrecondition("TXN_FINISHED", "the transaction already ended");
}
}  // namespace

EngineTransaction::EngineTransaction(StoreContext& ctx, std::string ns, SealPolicy seal,
                                     bool pack_small_chunks)
    : state_(std::make_shared<State>(ctx, std::move(ns), seal, pack_small_chunks)) {}

EngineTransaction::~EngineTransaction() { state_->Abort(); }

Result<std::unique_ptr<AssetWriter>> EngineTransaction::BeginPut(const PutOptions& options) {
  if (options.ns != state_->ns)
    return err::InvalidArgument("NAMESPACE_MISMATCH", "this transaction is in namespace '" +
                                                          state_->ns + "', not '" + options.ns +
                                                          "'");
  std::lock_guard lock(state_->mu);
  if (state_->done) return Finished();
  std::shared_ptr<State> state = state_;
  return std::unique_ptr<AssetWriter>(new EngineAssetWriter(
      state->ctx, options, state->seal,
      [state](StagedAsset&& a) { return state->Stage(std::move(a)); }, state->packs));
}

Status EngineTransaction::State::Stage(StagedAsset&& asset) {
  std::lock_guard lock(mu);
  if (done) {
    DiscardObjects(ctx, asset.WrittenObjects());
    return Finished();
  }
  staged.push_back(std::move(asset));
  return Status::Ok();
}

Result<std::vector<PutResult>> EngineTransaction::CommitWith(
    const std::function<Status(MetaTxn&)>& also) {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  if (s.done) return Finished();
  s.done = true;
  std::vector<const StagedAsset*> assets;
  std::vector<std::string> written;
  for (const StagedAsset& a : s.staged) {
    assets.push_back(&a);
    for (auto& o : a.WrittenObjects()) written.push_back(std::move(o));
  }
  std::vector<PutResult> results;
  std::vector<std::string> unused;
  Status st;
  if (s.packs) {  // the last pack, then every pack durable before anything references it
    st = s.packs->Flush();
    if (st.ok()) st = s.ctx.chunks->Sync();
  }
  if (st.ok()) st = PublishAssets(s.ctx, assets, results, unused, also);
  s.staged.clear();
  if (!st.ok()) {
    DiscardObjects(s.ctx, written);
    if (s.packs) s.packs->Discard();
    return st;
  }
  DiscardObjects(s.ctx, unused);
  for (const auto& name : written) s.ctx.in_flight.Remove(name);
  if (s.packs) s.packs->Release();
  return results;
}

void EngineTransaction::State::Abort() {
  std::lock_guard lock(mu);
  if (done) return;
  done = true;
  for (const StagedAsset& a : staged) DiscardObjects(ctx, a.WrittenObjects());
  staged.clear();
  if (packs) packs->Discard();
}

}  // namespace aifs
