#include "aifs/meta/rocksdb/keyed_log.h"

#include "aifs/meta/keys.h"

namespace aifs {

Status KeyedLog::Start(MetaStore& store) {
  AIFS_ASSIGN_OR_RETURN(auto last, store.LastKey(keys::kLogPrefix, PrefixEnd(keys::kLogPrefix)));
  uint64_t seq = 0;
  if (last) {
    auto parsed = keys::ParseLogEntry(*last);
    if (!parsed) return err::DataLoss("METADATA_CORRUPT", "malformed log key " + *last);
    seq = *parsed;
  }
  sequencer_.Start(seq);
  return Status::Ok();
}

Status KeyedLog::Commit(const std::vector<std::string>& entries, const PutFn& put,
                        const std::function<Status()>& commit) {
  if (entries.empty()) return commit();
  const uint64_t first = sequencer_.Reserve(entries.size());
  Status st;
  for (size_t i = 0; i < entries.size() && st.ok(); ++i)
    st = put(keys::LogEntry(first + i), entries[i]);
  if (st.ok()) st = commit();
  sequencer_.Settle(first);
  return st;
}

Result<uint64_t> KeyedLog::Scan(MetaStore& store, uint64_t after,
                                const MetaStore::LogFn& fn) const {
  const uint64_t watermark = sequencer_.Watermark();
  if (watermark <= after) return after;
  Status bad;
  bool stopped = false;
  uint64_t last = after;
  AIFS_RETURN_IF_ERROR(store.Scan(keys::LogEntry(after + 1), keys::LogEntry(watermark + 1),
                                  [&](std::string_view key, std::string_view value) {
                                    auto seq = keys::ParseLogEntry(key);
                                    if (!seq) {
                                      bad = err::DataLoss("METADATA_CORRUPT",
                                                          "malformed log key " + std::string(key));
                                      return false;
                                    }
                                    last = *seq;
                                    stopped = !fn(*seq, value);
                                    return !stopped;
                                  }));
  AIFS_RETURN_IF_ERROR(bad);
  return stopped ? last : watermark;
}

}  // namespace aifs
