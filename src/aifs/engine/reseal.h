// Resealer: seals the values a store of format 1 wrote in clear (asset
// metadata in asset records and tombstones, embedding vectors in vc/ and
// vq/; docs/storage-format.md, "Format versions") with their namespace's
// record key, exactly as a write of this build would have sealed them. Used
// by `aifs key rewrap` (key_rewrap.cpp), which walks the ranges in batches.
//
// Promise: a value is rewritten only when it is plaintext (an asset record
// with `metadata` set and `sealed` empty, a vector of exactly 4·dim bytes);
// sealed values, assets without metadata and values it cannot judge (a
// vector of a space that is gone) are left as they are, so running it twice,
// or over a batch a crash interrupted, is harmless. What it reads and
// writes goes through the caller's transaction. Not thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "aifs/engine/record_keys.h"
#include "aifs/meta/meta_store.h"

namespace aifs {

class Resealer {
 public:
  Resealer(MetaStore& meta, RecordKeys& keys) : meta_(meta), keys_(keys) {}
  ~Resealer();
  Resealer(const Resealer&) = delete;
  Resealer& operator=(const Resealer&) = delete;

  // The key ranges that may hold plaintext values, in key order.
  static const std::vector<std::string>& Prefixes();

  // Looks up, outside any transaction, what the values at `keys` need: the
  // record key of each namespace (a namespace of a format-1 store gets its
  // own first, in a transaction of its own) and the dimension of each vector
  // space. DATA_LOSS METADATA_CORRUPT for a key of a namespace that does not
  // exist; KMS errors of unwrapping.
  Status Prepare(const std::vector<std::string>& keys);

  enum class Resealed { kNothing, kRecord, kVector };
  // Reads the value at `key` (one of the keys given to Prepare) through
  // `txn` and, when it is plaintext, writes it sealed through `txn`.
  // DATA_LOSS METADATA_CORRUPT for a record that does not parse, names
  // another namespace than its key, or whose namespace does not exist.
  Result<Resealed> Reseal(MetaTxn& txn, const std::string& key);

 private:
  Result<RecordKey> KeyFor(const std::string& key) const;  // from Prepare

  MetaStore& meta_;
  RecordKeys& keys_;
  std::map<std::string, RecordKey> record_keys_;  // ns -> its key
  std::map<std::string, uint32_t> dims_;          // ns 0x00 space -> dim (0: no such space)
};

}  // namespace aifs
