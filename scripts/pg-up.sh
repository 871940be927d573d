#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for tests and benchmarks:
#   scripts/pg-up.sh DIR PORT
# DIR gets the cluster (DIR/data), its log (DIR/pg.log) and its unix socket
# (DIR/sock/.s.PGSQL.PORT); the server listens on no TCP address. Role and
# database "aifs", trust authentication (only this machine's users can reach
# the socket). Writes DIR/url, the MetaStore URL of the database. As root the
# server runs as the postgres user (initdb refuses root). Exit 77 when no
# PostgreSQL server binaries are installed (tests report themselves skipped).
# PG_DURABLE=1 keeps PostgreSQL's durable defaults (fsync, synchronous
# commit), for benchmarks. PG_EXTRA_OPTS adds server options, e.g.
# PG_EXTRA_OPTS="-c shared_preload_libraries=pg_stat_statements" (the
# scale-out benchmark counts statements with it). Stop it with
# scripts/pg-down.sh DIR. A cluster stopped with `pg-down.sh DIR --keep` is
# started again as it was.
set -euo pipefail
if [ $# -ne 2 ]; then echo "usage: $0 DIR PORT" >&2; exit 2; fi
DIR=$1 PORT=$2
BIN=${PG_BIN:-}
if [ -z "$BIN" ]; then
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then BIN=$d; break; fi
  done
fi
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then echo "pg-up: no PostgreSQL server binaries (apt-get install postgresql-15)" >&2; exit 77; fi
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ -f "$DIR/data/postmaster.pid" ]; then echo "pg-up: a server already runs in $DIR" >&2; exit 1; fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
fresh=1
if [ -f "$DIR/data/PG_VERSION" ] && [ -f "$DIR/url" ]; then fresh=0; fi
if [ $fresh = 1 ]; then
  rm -rf "$DIR/data" "$DIR/sock" "$DIR/url"
  mkdir -p "$DIR/sock"
  # The server user must reach DIR: every parent traversable, DIR its own.
  chmod 755 "$DIR"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$DIR" "$DIR/sock"; fi
  as_pg "$BIN/initdb" -D "$DIR/data" -U aifs --auth=trust -E UTF8 --no-locale --no-sync >"$DIR/initdb.log" 2>&1 ||
    { cat "$DIR/initdb.log" >&2; exit 1; }
fi
# Test settings: no fsync (a crashed test cluster is thrown away), a small
# footprint, and enough connections for several stores with their pools.
FAST="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
if [ "${PG_DURABLE:-0}" = 1 ]; then FAST=""; fi
as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/pg.log" -w -t 60 -o \
  "-c listen_addresses= -p $PORT -k $DIR/sock $FAST -c shared_buffers=64MB -c max_connections=600 ${PG_EXTRA_OPTS:-}" \
  start >/dev/null || { cat "$DIR/pg.log" >&2; exit 1; }
if [ $fresh = 0 ]; then cat "$DIR/url"; exit 0; fi
as_pg "$BIN/createdb" -h "$DIR/sock" -p "$PORT" -U aifs aifs
echo "postgresql://aifs@/aifs?host=$DIR/sock&port=$PORT" >"$DIR/url"
echo "$BIN" >"$DIR/bin"
cat "$DIR/url"
