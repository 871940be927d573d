// EngineTransaction: several puts published in one atomic metadata commit.
// Staged assets keep their chunk objects (durable, unreferenced) until the
// commit references them or an abort deletes them. In a format-5 store the
// small chunks of all its puts share packs (chunk_objects.h), written as
// they fill and made durable by Commit() before it publishes.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "aifs/api/api.h"
#include "aifs/engine/chunk_objects.h"
#include "aifs/engine/publish.h"
#include "aifs/storage/chunk_sealer.h"

namespace aifs {

class EngineTransaction : public Transaction {
 public:
  // `pack_small_chunks`: whether the store's format has packs.
  EngineTransaction(StoreContext& ctx, std::string ns, SealPolicy seal, bool pack_small_chunks);
  ~EngineTransaction() override;

  Result<std::unique_ptr<AssetWriter>> BeginPut(const PutOptions& options) override;
  Result<std::vector<PutResult>> Commit() override { return CommitWith(nullptr); }
  // Commit, writing more records in the same metadata transaction (see
  // PublishAssets); with no puts staged, `also` commits alone.
  Result<std::vector<PutResult>> CommitWith(const std::function<Status(MetaTxn&)>& also);

 private:
  // Shared with the writers handed out, which may outlive the transaction:
  // a writer committing after the transaction ended is refused, never a
  // dangling call.
  struct State {
    State(StoreContext& c, std::string n, SealPolicy p, bool pack)
        : ctx(c),
          ns(std::move(n)),
          seal(p),
          packs(pack ? std::make_shared<PackWriter>(c) : nullptr) {}
    StoreContext& ctx;
    const std::string ns;
    const SealPolicy seal;
    const std::shared_ptr<PackWriter> packs;  // null: every chunk its own object
    std::mutex mu;
    std::vector<StagedAsset> staged;
    bool done = false;
    Status Stage(StagedAsset&& asset);
    void Abort();
  };
  std::shared_ptr<State> state_;
};

}  // namespace aifs
