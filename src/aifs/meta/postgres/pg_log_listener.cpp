#include "aifs/meta/postgres/pg_log_listener.h"

#include <poll.h>

#include <cstdlib>

#include "aifs/meta/postgres/pg_connection.h"
#include "aifs/meta/postgres/pq_api.h"

namespace aifs {

PgLogListener::PgLogListener(std::string conninfo, std::string channel)
    : conninfo_(std::move(conninfo)), channel_(std::move(channel)) {
  thread_ = std::thread([this] { Loop(); });
}

PgLogListener::~PgLogListener() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

bool PgLogListener::Wait(uint64_t seq, uint64_t generation, uint64_t interrupts,
                         std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  wake_.wait_for(lock, timeout, [&] {
    return stop_ || announced_.load() > seq || generation_.load() != generation ||
           interrupts_.load() != interrupts;
  });
  return announced_.load() > seq;
}

void PgLogListener::Interrupt() {
  {
    std::lock_guard lock(mu_);
    interrupts_.fetch_add(1);
  }
  wake_.notify_all();
}

void PgLogListener::Loop() {
  constexpr auto kRetry = std::chrono::milliseconds(250);
  PGconn* conn = nullptr;
  auto stopping = [&] {
    std::lock_guard lock(mu_);
    return stop_;
  };
  while (!stopping()) {
    if (!conn) {
      conn = Pq().PQconnectdb(conninfo_.c_str());
      Pq().PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
      PGresult* r = nullptr;
      if (Pq().PQstatus(conn) == CONNECTION_OK) {
        char* quoted = Pq().PQescapeIdentifier(conn, channel_.c_str(), channel_.size());
        r = Pq().PQexec(conn, ("LISTEN " + std::string(quoted ? quoted : "")).c_str());
        Pq().PQfreemem(quoted);
      }
      const bool ok = r && Pq().PQresultStatus(r) == PGRES_COMMAND_OK;
      Pq().PQclear(r);
      if (!ok) {
        Pq().PQfinish(conn);
        conn = nullptr;
        std::unique_lock lock(mu_);
        wake_.wait_for(lock, kRetry, [&] { return stop_; });
        continue;
      }
      listening_ = true;
      {
        std::lock_guard lock(mu_);
        generation_.fetch_add(1);
      }
      wake_.notify_all();
    }
    pollfd p{Pq().PQsocket(conn), POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(kRetry.count()));
    if (ready > 0 && !Pq().PQconsumeInput(conn)) {
      listening_ = false;
      Pq().PQfinish(conn);
      conn = nullptr;
      {
        std::lock_guard lock(mu_);
        generation_.fetch_add(1);
      }
      wake_.notify_all();
      continue;
    }
    bool woke = false;
    while (PGnotify* n = Pq().PQnotifies(conn)) {
      const uint64_t counter = std::strtoull(n->extra, nullptr, 10);
      Pq().PQfreemem(n);
      uint64_t seen = announced_.load();
      while (counter > seen && !announced_.compare_exchange_weak(seen, counter)) {
      }
      woke = true;
    }
    if (woke) {
      { std::lock_guard lock(mu_); }  // a waiter between its check and its wait sees it
      wake_.notify_all();
    }
  }
  listening_ = false;
  Pq().PQfinish(conn);
}

}  // namespace aifs
