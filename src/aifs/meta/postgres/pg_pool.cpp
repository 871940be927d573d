#include "aifs/meta/postgres/pg_pool.h"

namespace aifs {

PgPool::PgPool(std::string conninfo, std::string setup, std::vector<PgStatement> statements,
               size_t size, std::chrono::milliseconds wait)
    : conninfo_(std::move(conninfo)),
      setup_(std::move(setup)),
      statements_(std::move(statements)),
      size_(size == 0 ? 1 : size),
      wait_(wait) {}

PgPool::~PgPool() = default;

PgPool::Lease::~Lease() {
  if (pool_ && conn_) pool_->Return(std::move(conn_));
}

Result<PgPool::Lease> PgPool::Acquire() {
  std::unique_lock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + wait_;
  for (;;) {
    while (!idle_.empty()) {
      std::unique_ptr<PgConnection> conn = std::move(idle_.back());
      idle_.pop_back();
      if (conn->Usable()) return Lease(this, std::move(conn));
      closed_round_trips_ += conn->round_trips();
      --open_;  // the server closed it: drop it, open another below
    }
    if (open_ < size_) break;
    if (returned_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= size_)
      return err::Unavailable(
          "METADATA_POOL_EXHAUSTED",
          "all " + std::to_string(size_) + " PostgreSQL connections stayed busy; raise ?pool=");
  }
  ++open_;
  lock.unlock();
  auto conn = PgConnection::Connect(conninfo_, setup_, statements_);
  if (!conn.ok()) {
    std::lock_guard relock(mu_);
    --open_;
    returned_.notify_one();
    return conn.status();
  }
  return Lease(this, std::move(conn).value());
}

void PgPool::Return(std::unique_ptr<PgConnection> conn) {
  {
    std::lock_guard lock(mu_);
    if (conn->Usable()) {
      idle_.push_back(std::move(conn));
    } else {
      closed_round_trips_ += conn->round_trips();
      --open_;
    }
  }
  returned_.notify_one();
}

uint64_t PgPool::round_trips() const {
  std::lock_guard lock(mu_);
  uint64_t n = closed_round_trips_;
  for (const auto& c : idle_) n += c->round_trips();
  return n;
}

}  // namespace aifs
