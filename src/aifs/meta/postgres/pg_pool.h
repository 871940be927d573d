// PgPool: at most `size` connections to one PostgreSQL database, opened when
// first needed and reused; a connection found broken (the server restarted,
// the network dropped) is closed and replaced by the next Acquire, so the
// pool recovers by itself once the server is back.
//
// Thread safety: every method may be called from any thread; a Lease belongs
// to the thread that holds it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "aifs/meta/postgres/pg_connection.h"

namespace aifs {

class PgPool {
 public:
  // Each connection is opened with `conninfo`, runs `setup` and prepares
  // `statements` (see PgConnection::Connect).
  PgPool(std::string conninfo, std::string setup, std::vector<PgStatement> statements, size_t size,
         std::chrono::milliseconds wait);
  ~PgPool();

  // A connection lent to one caller; it goes back to the pool when the lease
  // ends (or is closed when it broke meanwhile).
  class Lease {
   public:
    Lease(PgPool* pool, std::unique_ptr<PgConnection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    ~Lease();
    PgConnection* operator->() { return conn_.get(); }
    PgConnection& operator*() { return *conn_; }

   private:
    PgPool* pool_;
    std::unique_ptr<PgConnection> conn_;
  };

  // An idle connection, a new one while fewer than `size` exist, or else the
  // next one returned. UNAVAILABLE METADATA_UNAVAILABLE when none can be
  // opened; UNAVAILABLE METADATA_POOL_EXHAUSTED after waiting `wait` for one.
  Result<Lease> Acquire();
  // Statements all connections of the pool have sent (round trips).
  uint64_t round_trips() const;

 private:
  void Return(std::unique_ptr<PgConnection> conn);

  const std::string conninfo_;
  const std::string setup_;
  const std::vector<PgStatement> statements_;
  const size_t size_;
  const std::chrono::milliseconds wait_;

  mutable std::mutex mu_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<PgConnection>> idle_;
  size_t open_ = 0;                  // idle or lent
  uint64_t closed_round_trips_ = 0;  // sent by connections already closed
};

}  // namespace aifs
