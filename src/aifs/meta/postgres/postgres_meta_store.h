// PostgresMetaStore: the MetaStore in a PostgreSQL database, shared by any
// number of servers. URL:
//   postgresql://user[:password]@host[:port]/db?pool=8&schema=aifs&...
// `pool` bounds the connections of this process (default 8) and `schema`
// names the PostgreSQL schema holding the store (default "aifs"; several
// stores can share a database). Every other query parameter goes to libpq
// (host=/socket/dir, sslmode, connect_timeout (default 5 s), ...).
//
// Layout (docs/scale-out.md): <schema>.kv (k bytea primary key, v bytea),
// <schema>.log (seq bigint primary key, entry bytea), <schema>.log_counter
// (one row: the last sequence number given), <schema>.version (the schema
// version, refused when newer than this build knows), and the function
// <schema>.commit that applies one transaction in one statement.
//
// Promise: as MetaStore's. Transactions are optimistic: reads go to the
// database as they come (remembering each row's version, its xmin), writes
// are buffered, and Commit sends them in one statement that takes an advisory
// lock per key read or written (in a fixed order), checks that no key read
// changed since (else ABORTED TXN_CONFLICT) and writes. Log appends update
// the counter row in that same transaction, so appending commits take turns
// on it: sequence order is commit order, and the committed counter is a safe
// watermark. A commit costs one round trip, a read one.
// Unlike RocksDB, a Scan is not one snapshot: each page of it (kScanPage
// keys) sees the commits made before it was read.
// Failures: PostgreSQL unreachable or stopped is UNAVAILABLE
// METADATA_UNAVAILABLE (connect_timeout, statement_timeout and TCP keepalives
// bound every wait); the next call after the server is back succeeds, without
// reopening. CheckIntegrity, Checkpoint and Compact are UNIMPLEMENTED
// (PostgreSQL's own tools do these jobs).
// Thread safety: every method may be called from any thread; a transaction
// or batch belongs to one thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "aifs/meta/meta_store.h"
#include "aifs/meta/postgres/pg_log_listener.h"
#include "aifs/meta/postgres/pg_pool.h"

namespace aifs {

class PostgresMetaStore : public MetaStore {
 public:
  // The schema version this build writes and reads.
  static constexpr int64_t kSchemaVersion = 1;
  // Keys (or log entries) read per round trip by Scan and ScanLog.
  static constexpr int kScanPage = 512;
  // Keys read per round trip by ScanBulk, which fetches each page while the
  // one before is being visited.
  static constexpr int kBulkPage = 8192;

  // `url` as above. INVALID_ARGUMENT BAD_META_URL for a malformed URL;
  // NOT_FOUND META_STORE_MISSING when the schema has no store and
  // !options.create; FAILED_PRECONDITION META_SCHEMA_TOO_NEW when a newer
  // build created it; UNAVAILABLE METADATA_UNAVAILABLE when the server
  // cannot be reached.
  static Result<std::unique_ptr<MetaStore>> Open(const std::string& url,
                                                 const MetaOpenOptions& options);
  ~PostgresMetaStore() override;

  std::string Url() const override { return url_; }
  bool read_only() const override { return options_.read_only; }
  bool shared_writers() const override { return true; }
  Result<std::optional<std::string>> Get(std::string_view key) override;
  Status Scan(std::string_view begin, std::string_view end, const ScanFn& fn) override;
  // Pages of kBulkPage keys, the next fetched on another pooled connection
  // while `fn` visits the current one: PostgreSQL's time per row overlaps
  // the caller's. Each page is its own statement, as in Scan.
  Status ScanBulk(std::string_view begin, std::string_view end, const ScanFn& fn) override;
  std::unique_ptr<MetaTxn> Begin() override;
  std::unique_ptr<MetaBatch> NewBatch() override;
  Status DeleteRange(std::string_view begin, std::string_view end) override;
  Result<std::optional<std::string>> LastKey(std::string_view begin, std::string_view end) override;
  Result<uint64_t> ScanLog(uint64_t after, const LogFn& fn) override;
  uint64_t LogWatermark() const override;
  bool WaitForLog(uint64_t seq, std::chrono::milliseconds timeout) const override;
  void InterruptLogWaits() override;
  // UNIMPLEMENTED, saying which PostgreSQL tool checks what (pg_amcheck).
  Result<MetaIntegrity> CheckIntegrity(bool read_all) override;
  // A session advisory lock on a connection of the pool, kept (out of the
  // pool) while the lock is held; polled every 10 ms up to `timeout`.
  Result<std::unique_ptr<MetaLock>> Lock(std::string_view name,
                                         std::chrono::milliseconds timeout) override;

  // Statements this process has sent to PostgreSQL (one round trip each),
  // for measurements.
  uint64_t round_trips() const { return pool_->round_trips(); }

 private:
  class Txn;
  class Batch;
  friend class Txn;
  friend class Batch;

  PostgresMetaStore(std::string url, std::string schema, const MetaOpenOptions& options)
      : url_(std::move(url)), schema_(std::move(schema)), options_(options) {}
  // Creates the schema (when missing and options_.create) and checks its version.
  Status PrepareSchema(const std::string& conninfo);
  // Reads the log counter (the watermark) and raises watermark_ to it.
  Result<uint64_t> ReadWatermark() const;
  // Runs a prepared statement on a pooled connection.
  Result<PgResult> Exec(const std::string& name, const PgParams& params) const;
  // Up to `limit` keys and values from `from` on, below `end` (none: no bound).
  Result<PgResult> ScanPage(std::string_view from, std::string_view end, int limit) const;
  // The advisory lock number of `key` in this store.
  int64_t LockOf(std::string_view key) const;

  const std::string url_;  // as given, without a password
  const std::string schema_;
  const MetaOpenOptions options_;
  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<PgLogListener> listener_;
  mutable std::atomic<uint64_t> watermark_{0};  // the highest counter seen committed
  // The listener's connection (generation) since which watermark_ is current.
  mutable std::atomic<uint64_t> synced_generation_{~uint64_t{0}};
};

}  // namespace aifs
