// The portable JSON form of snapshots and inclusion proofs ("aifs-proof/1"),
// so a proof can be checked offline by anyone holding the namespace key.
// "store" (the issuing store's ID, unsigned: it picks the pinned key) is
// written when known and optional when read: older proofs have none.
#pragma once

#include <nlohmann/json.hpp>

#include "aifs/api/types.h"

namespace aifs {

nlohmann::json SnapshotToJson(const SnapshotInfo& s);
nlohmann::json ProofToJson(const SnapshotProof& p);
// INVALID_ARGUMENT BAD_PROOF_FILE for anything malformed.
Result<SnapshotProof> ProofFromJson(const nlohmann::json& j);

}  // namespace aifs
