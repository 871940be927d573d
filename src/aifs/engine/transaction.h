// EngineTransaction: several puts published in one atomic metadata commit.
// Staged assets keep their chunk objects (durable, unreferenced) until the
// commit references them or an abort deletes them.
#pragma once

#include <mutex>
#include <vector>

#include "aifs/api/api.h"
#include "aifs/engine/publish.h"

namespace aifs {

class EngineTransaction : public Transaction {
 public:
  EngineTransaction(StoreContext& ctx, std::string ns) : ctx_(ctx), ns_(std::move(ns)) {}
  ~EngineTransaction() override;

  Result<std::unique_ptr<AssetWriter>> BeginPut(const PutOptions& options) override;
  Result<std::vector<PutResult>> Commit() override;

 private:
  Status Stage(StagedAsset&& asset);
  void Abort();

  StoreContext& ctx_;
  const std::string ns_;
  std::mutex mu_;
  std::vector<StagedAsset> staged_;
  bool done_ = false;
};

}  // namespace aifs
