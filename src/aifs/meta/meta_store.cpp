#include "aifs/meta/meta_store.h"

#include <chrono>
#include <thread>

#include "aifs/meta/rocksdb/rocksdb_meta_store.h"

namespace aifs {

Result<std::unique_ptr<MetaStore>> OpenMetaStore(const std::string& url,
                                                 const MetaOpenOptions& options) {
  constexpr std::string_view kRocks = "rocksdb://";
  if (url.starts_with(kRocks)) return RocksDbMetaStore::Open(url.substr(kRocks.size()), options);
  return err::InvalidArgument("UNSUPPORTED_META_STORE", "no metadata backend for '" + url + "'");
}

Status RunTransaction(MetaStore& store, const std::function<Status(MetaTxn&)>& body) {
  constexpr int kAttempts = 64;
  Status st;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto txn = store.Begin();
    st = body(*txn);
    if (st.ok()) st = txn->Commit();
    if (st.ok() || st.reason() != "TXN_CONFLICT") return st;
    std::this_thread::sleep_for(std::chrono::microseconds(50 << std::min(attempt, 8)));
  }
  return st;
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) != 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return end;  // empty: no upper bound
}

}  // namespace aifs
