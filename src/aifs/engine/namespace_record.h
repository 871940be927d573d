// Writing a namespace's record (ns/<name>): every commit that changes the
// namespace's live head (assets, their metadata, paths) writes it, to keep
// its counts exact, so it is also where the head's version moves on.
#pragma once

#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"

namespace aifs {

// Puts `rec` under its name in `txn` with head_version one higher than it
// had. A reader that saw the same head_version twice saw the same head
// (assets, metadata and paths) both times; the converse need not hold (a
// policy change also moves it). Errors: the transaction's.
inline Status PutNamespaceRecord(MetaTxn& txn, store::v1::NamespaceRecord& rec) {
  rec.set_head_version(rec.head_version() + 1);
  return PutRecord(txn, keys::Namespace(rec.name()), rec);
}

}  // namespace aifs
