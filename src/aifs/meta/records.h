// Deterministic (de)serialization of the protobuf records kept in the MetaStore.
#pragma once

#include <google/protobuf/message_lite.h>

#include <string>
#include <string_view>

#include "aifs/core/status.h"
#include "aifs/meta/meta_store.h"
#include "aifs/store/v1/records.pb.h"

namespace aifs {

// Same message, same bytes: map fields are written in key order.
std::string SerializeDeterministic(const google::protobuf::MessageLite& msg);

// DATA_LOSS/METADATA_CORRUPT when `bytes` is not a valid record.
Status ParseRecord(std::string_view bytes, google::protobuf::MessageLite& msg,
                   std::string_view what);

// Loads and parses a record; NOT_FOUND with `reason` when the key is absent.
template <typename Record>
Result<Record> LoadRecord(MetaStore& meta, const std::string& key, const char* reason,
                          const std::string& what) {
  AIFS_ASSIGN_OR_RETURN(auto bytes, meta.Get(key));
  if (!bytes) return err::NotFound(reason, what + " not found");
  Record rec;
  AIFS_RETURN_IF_ERROR(ParseRecord(*bytes, rec, what));
  return rec;
}

// Loads a record through a transaction (joining its conflict check).
template <typename Record>
Result<std::optional<Record>> LoadRecord(MetaTxn& txn, const std::string& key,
                                         const std::string& what) {
  AIFS_ASSIGN_OR_RETURN(auto bytes, txn.Get(key));
  if (!bytes) return std::optional<Record>();
  Record rec;
  AIFS_RETURN_IF_ERROR(ParseRecord(*bytes, rec, what));
  return std::optional<Record>(std::move(rec));
}

inline Status PutRecord(MetaTxn& txn, const std::string& key,
                        const google::protobuf::MessageLite& rec) {
  return txn.Put(key, SerializeDeterministic(rec));
}

}  // namespace aifs
