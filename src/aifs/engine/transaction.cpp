#include "aifs/engine/transaction.h"

#include "aifs/engine/asset_writer.h"

namespace aifs {

EngineTransaction::~EngineTransaction() {
  if (!done_) Abort();
}

Result<std::unique_ptr<AssetWriter>> EngineTransaction::BeginPut(const PutOptions& options) {
  if (options.ns != ns_)
    return err::InvalidArgument("NAMESPACE_MISMATCH", "this transaction is in namespace '" + ns_ +
                                                          "', not '" + options.ns + "'");
  std::lock_guard lock(mu_);
  if (done_) return err::FailedPrecondition("TXN_FINISHED", "the transaction already ended");
  return std::unique_ptr<AssetWriter>(new EngineAssetWriter(
      ctx_, options, [this](StagedAsset&& a) { return Stage(std::move(a)); }));
}

Status EngineTransaction::Stage(StagedAsset&& asset) {
  std::lock_guard lock(mu_);
  if (done_) {
    DiscardObjects(ctx_, asset.WrittenObjects());
    return err::FailedPrecondition("TXN_FINISHED", "the transaction already ended");
  }
  staged_.push_back(std::move(asset));
  return Status::Ok();
}

Result<std::vector<PutResult>> EngineTransaction::Commit() {
  std::lock_guard lock(mu_);
  if (done_) return err::FailedPrecondition("TXN_FINISHED", "the transaction already ended");
  done_ = true;
  std::vector<const StagedAsset*> assets;
  std::vector<std::string> written;
  for (const StagedAsset& a : staged_) {
    assets.push_back(&a);
    for (auto& o : a.WrittenObjects()) written.push_back(std::move(o));
  }
  std::vector<PutResult> results;
  std::vector<std::string> unused;
  Status st = PublishAssets(ctx_, assets, results, unused);
  if (!st.ok()) {
    DiscardObjects(ctx_, written);
    return st;
  }
  DiscardObjects(ctx_, unused);
  for (const auto& name : written) ctx_.in_flight.Remove(name);
  return results;
}

void EngineTransaction::Abort() {
  std::lock_guard lock(mu_);
  done_ = true;
  for (const StagedAsset& a : staged_) DiscardObjects(ctx_, a.WrittenObjects());
  staged_.clear();
}

}  // namespace aifs
