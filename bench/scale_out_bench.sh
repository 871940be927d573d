#!/usr/bin/env bash
# Scale-out benchmark (issue 21), everything through `aifs serve` (gRPC):
#   bench/scale_out_bench.sh AIFS_BINARY [--quick] [--only LIST]
# Configurations: embedded (RocksDB + file, 1 server), PostgreSQL + RADOS and
# PostgreSQL + S3 (radosgw), each with 1 server and 3 servers joined to one
# store (as tests/cli/test_scale_out.sh sets them up). Measured:
#   1. ingest / read GB/s of one SIZE MiB random file (put FILE, get -o
#      /dev/null, read = median of 3); with 3 servers three clients at once,
#      one per server, each its own file, aggregate GB/s (reads cross servers:
#      the client of B reads what A's client put);
#   2. puts/s of SMALL files of 4-16 KiB (put -r through one server; three
#      put -r of disjoint trees through three servers at once);
#   3. StatAsset/s: a Python SDK loop (Client.stat, one call in flight per
#      client) for STAT_S seconds; with 3 servers one client per server;
#   4. PostgreSQL statements per put and per snapshot, counted by PostgreSQL
#      (pg_stat_statements, reset before each count; the bench's own queries
#      excluded by text, the servers' idle background rate subtracted);
#   5. a snapshot of SNAP_N tiny assets (own namespace, put -r): cold, then
#      after 1,000 more puts (incremental), on PostgreSQL + RADOS and on the
#      embedded store: CLI wall time and the SDK call alone;
#   6. ceilings in the same run: rados bench (4 MiB objects, 16 in flight,
#      write then seq) on the pool, curl PUT / GET of a 64 MiB object on
#      radosgw; machine load before and after.
# Backends are its own: PostgreSQL (PG_DURABLE=1 scripts/pg-up.sh, with
# pg_stat_statements) and Ceph (scripts/ceph-up.sh, ports 22000-22099; one
# cluster for RADOS, a fresh one with radosgw for S3), all under a scratch
# directory in /tmp, stopped and removed at exit. --quick: small sizes
# (< 3 min). --only embedded,rados,s3 runs a subset. Markdown on stdout,
# progress on stderr.
# The whole script is one block: bash parses it before running it, so the file
# can be edited while a long run goes on.
{
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AIFS=$(realpath "${1:?usage: $0 AIFS_BINARY [--quick] [--only embedded,rados,s3]}")
shift
QUICK=0 ONLY=embedded,rados,s3
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1; shift ;;
    --only) ONLY=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [ $QUICK = 1 ]; then
  SIZE=32 SMALL=200 STAT_S=1 SNAP_N=2000 MORE=100 RT_PUTS=10 RT_SNAPS=3 BENCH_S=2 RGW_MIB=16
else
  SIZE=512 SMALL=2000 STAT_S=5 SNAP_N=100000 MORE=1000 RT_PUTS=50 RT_SNAPS=10 BENCH_S=10 RGW_MIB=64
fi
PY=/usr/bin/python3
PG_PORT=22001 MON_PORT=22010 RGW_PORT=22011
WORK=$(mktemp -d /tmp/aifs-scale-bench.XXXXXX)
chmod 755 "$WORK"  # the postgres user must reach the cluster under it
SRV_PIDS=()
cleanup() {
  for p in "${SRV_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  "$ROOT/scripts/pg-down.sh" "$WORK/pg" >/dev/null 2>&1 || true
  "$ROOT/scripts/ceph-down.sh" "$WORK/ceph" >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { echo "scale-out-bench: $*" >&2; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
LOAD_BEFORE=$(load)
UPTIME_BEFORE=$(uptime)

# ---- data ------------------------------------------------------------------
say "generating data (4 x $SIZE MiB, 4 x $SMALL small files, $SNAP_N + $MORE tiny files)"
declare -A ID
for i in 1 2 3 4; do head -c "${SIZE}M" /dev/urandom >"$WORK/big$i"; ID[$i]=$(b3sum --no-names "$WORK/big$i"); done
for i in 0 1 2 3; do make_tree "$WORK/small$i" "$SMALL" 4096 16384 $((40 + i)); done
# tiny files: distinct content (no dedup), 100 directories
$PY - "$WORK/tiny" "$SNAP_N" "$WORK/more" "$MORE" "$WORK/more2" <<'PY'
import os, sys
for root, n, tag in ((sys.argv[1], int(sys.argv[2]), "t"), (sys.argv[3], int(sys.argv[4]), "m"),
                     (sys.argv[5], int(sys.argv[4]), "n")):
    for i in range(n):
        d = os.path.join(root, "d%03d" % (i % 100))
        if i < 100:
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "%s%07d" % (tag, i)), "w") as f:
            f.write("%s %d\n" % (tag, i))
PY
$PY "$ROOT/python/gen_protos.py" --out "$WORK/gen" >/dev/null
export PYTHONPATH=$ROOT/python:$WORK/gen
cat >"$WORK/client.py" <<'PY'
"""stat SECONDS NS: StatAsset/s of a one-in-flight loop over the namespace's
assets; snap NS: milliseconds of one CreateSnapshot call."""
import sys, time
import aifs
c = aifs.connect()
c.info()
if sys.argv[1] == "stat":
    secs, ns = float(sys.argv[2]), sys.argv[3]
    ids = [a.id for a in c.ls(ns)][:5000]
    assert ids, "no assets"
    n, t0 = 0, time.perf_counter()
    while True:
        for i in ids[n % len(ids):n % len(ids) + 100]:
            c.stat(ns, i)
            n += 1
        t = time.perf_counter() - t0
        if t >= secs:
            break
    print("%.0f" % (n / t))
else:
    t0 = time.perf_counter()
    c.snapshot(sys.argv[2])
    print("%.1f" % ((time.perf_counter() - t0) * 1e3))
PY

# ---- servers ---------------------------------------------------------------
# start_srv NAME DATA_DIR: `aifs serve` on a kernel-chosen port; sets ADDR_NAME.
start_srv() {
  local name=$1 data=$2 port="" pid
  "$AIFS" --data "$data" --lease-ttl 600 serve --listen 127.0.0.1:0 >"$WORK/$name.out" 2>"$WORK/$name.err" &
  pid=$!
  SRV_PIDS+=("$pid")
  printf -v "PID_$name" %s "$pid"
  for _ in $(seq 300); do
    port=$(sed -n 's/^aifs: serving on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$WORK/$name.out")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "server $name exited: $(cat "$WORK/$name.err")" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$port" ] || { echo "server $name printed no port" >&2; exit 1; }
  printf -v "ADDR_$name" %s "127.0.0.1:$port"
}
stop_srv() {
  local pid=PID_$1
  kill -TERM "${!pid}" 2>/dev/null || true
  wait "${!pid}" 2>/dev/null || true
}
cli() { local addr=ADDR_$1; shift; "$AIFS" --server "${!addr}" -q "$@"; }

# ---- PostgreSQL statement counts --------------------------------------------
PSQL=()
pg_q() { "${PSQL[@]}" -Atc "$1"; }
OWN="query NOT LIKE '%pg_stat_statements%'"
rt_reset() { pg_q "SELECT pg_stat_statements_reset()" >/dev/null; RT_T0=$(date +%s.%N); }
# rt_elapsed: seconds since rt_reset
rt_elapsed() { awk -v a="$RT_T0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }'; }
# rt_count: statements since rt_reset, minus the idle rate x the time passed
rt_count() {
  local n
  n=$(pg_q "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE $OWN")
  awk -v n="$n" -v t="$(rt_elapsed)" -v r="$IDLE_RATE" 'BEGIN { v = n - r * t; printf "%.0f", v < 0 ? 0 : v }'
}
# rt_top N: the statements since rt_reset, per operation (divided by N)
rt_top() {
  pg_q "SELECT round(calls::numeric / $1, 2), round(mean_exec_time::numeric, 3),
               left(regexp_replace(regexp_replace(query, '\"[a-z0-9_]+\"\\.', '', 'g'), '\\s+', ' ', 'g'), 70)
        FROM pg_stat_statements WHERE $OWN ORDER BY calls DESC LIMIT 12" |
    awk -F'|' '{ printf "| %s | %s | `%s` |\n", $1, $2, $3 }'
}
# rt_section TITLE COLUMN N: a markdown section of rt_top N under TITLE
rt_section() {
  printf '\n%s\n\n| %s | mean ms | statement |\n|---:|---:|---|\n%s\n' "$1" "$2" "$(rt_top "$3")"
}
idle_rate() {
  rt_reset
  sleep 3
  IDLE_RATE=0
  IDLE_RATE=$(awk -v n="$(rt_count)" -v t="$(rt_elapsed)" 'BEGIN { printf "%.3f", n / t }')
}

# ---- results ---------------------------------------------------------------
ROWS=()      # throughput table rows
RT_ROWS=()   # round-trip rows
RT_DETAIL="" # statements per put / per snapshot, by statement
SNAP_ROWS=()
SNAP_DETAIL=""
CEIL_ROWS=()
declare -A R  # raw numbers: R[config.what]

# measure CONFIG SERVERS: the throughput measures through A (1) or A, B, C (3)
measure() {
  local cfg=$1 n=$2 t ids id i s
  say "$cfg, $n server(s): ingest/read"
  if [ "$n" = 1 ]; then
    t=$(tm cli A put "$WORK/big1")
    R[$cfg.1.put]=$(gbps "$t" "$SIZE")
    id=${ID[1]}
    cli A get "$id" -o "$WORK/back"
    [ "$(b3sum --no-names "$WORK/back")" = "$id" ] || { echo "$cfg: get returned other bytes" >&2; exit 1; }
    rm -f "$WORK/back"
    t=$(for _ in 1 2 3; do tm cli A get "$id" -o /dev/null; done | median)
    R[$cfg.1.get]=$(gbps "$t" "$SIZE")
    say "$cfg, 1 server: put -r of $SMALL small files"
    t=$(tm cli A put -r "$WORK/small0" --prefix s0/)
    [ "$(cli A ls s0/ | wc -l)" = "$SMALL" ] || { echo "$cfg: put -r stored the wrong number of paths" >&2; exit 1; }
    R[$cfg.1.small]=$(rate "$SMALL" "$t")
    say "$cfg, 1 server: StatAsset/s"
    R[$cfg.1.stat]=$(AIFS_SERVER=$ADDR_A $PY "$WORK/client.py" stat "$STAT_S" default)
  else
    t0=$(date +%s.%N)
    for s in A B C; do
      i=$(( $(printf %d "'$s") - 63 ))  # A=2, B=3, C=4
      bg cli $s put "$WORK/big$i" >/dev/null
    done
    wait_bg
    t=$(since "$t0")
    R[$cfg.3.put]=$(gbps "$t" $((3 * SIZE)))
    # reads cross servers: B reads A's file's asset put through A's client, etc.
    t=$(for _ in 1 2 3; do
      t0=$(date +%s.%N)
      bg cli B get "${ID[2]}" -o /dev/null
      bg cli C get "${ID[3]}" -o /dev/null
      bg cli A get "${ID[4]}" -o /dev/null
      wait_bg
      since "$t0"
    done | median)
    R[$cfg.3.get]=$(gbps "$t" $((3 * SIZE)))
    say "$cfg, 3 servers: three put -r of $SMALL small files at once"
    t0=$(date +%s.%N)
    bg cli A put -r "$WORK/small1" --prefix s1/ >/dev/null
    bg cli B put -r "$WORK/small2" --prefix s2/ >/dev/null
    bg cli C put -r "$WORK/small3" --prefix s3/ >/dev/null
    wait_bg
    t=$(since "$t0")
    [ "$(cli B ls s1/ | wc -l)$(cli C ls s2/ | wc -l)$(cli A ls s3/ | wc -l)" = "$SMALL$SMALL$SMALL" ] ||
      { echo "$cfg: the small trees are not all listed on every server" >&2; exit 1; }
    R[$cfg.3.small]=$(rate $((3 * SMALL)) "$t")
    say "$cfg, 3 servers: StatAsset/s, one client per server"
    for s in A B C; do
      addr=ADDR_$s
      bg env AIFS_SERVER=${!addr} $PY "$WORK/client.py" stat "$STAT_S" default >"$WORK/stat.$s"
    done
    wait_bg
    R[$cfg.3.stat]=$(cat "$WORK"/stat.? | awk '{ s += $1 } END { print s }')
  fi
  ROWS+=("| $cfg | $n | ${R[$cfg.$n.put]} | ${R[$cfg.$n.get]} | ${R[$cfg.$n.small]} | ${R[$cfg.$n.stat]} |")
}
# bg CMD...: runs a client in the background; wait_bg waits for them all and
# fails if one did (servers are background jobs too: jobs -p would wait on them)
BG=()
bg() { "$@" & BG+=($!); }
wait_bg() {
  local p rc=0
  for p in "${BG[@]}"; do wait "$p" || rc=1; done
  BG=()
  [ $rc = 0 ] || { echo "a client failed" >&2; exit 1; }
}
# tm CMD...: seconds CMD takes (output discarded); fails when CMD does
tm() {
  local t0
  t0=$(date +%s.%N)
  "$@" >/dev/null || { echo "failed: $*" >&2; return 1; }
  awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f\n", b - a }'
}
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f\n", b - a }'; }

# round_trips CONFIG: statements per put and per snapshot (server A alone)
round_trips() {
  local cfg=$1 per_put per_r per_snap n
  say "$cfg: counting PostgreSQL statements"
  idle_rate
  rt_reset
  for i in $(seq "$RT_PUTS"); do echo "rt $cfg $i $RANDOM$RANDOM" | cli A put - >/dev/null; done
  n=$(rt_count)
  per_put=$(ratio "$n" "$RT_PUTS")
  RT_DETAIL+=$(rt_section "$cfg, per \`aifs put\` (one CLI process each; calls per put, mean execution ms):" \
    "calls per put" "$RT_PUTS")$'\n'
  make_tree "$WORK/rt-tree" "$SMALL" 4096 16384 77
  rt_reset
  cli A put -r "$WORK/rt-tree" --prefix rt2/ >/dev/null
  n=$(rt_count)
  per_r=$(ratio "$n" "$SMALL")
  RT_DETAIL+=$(rt_section "$cfg, per file of \`put -r\` ($SMALL files, -j 8):" "calls per file" "$SMALL")$'\n'
  rm -rf "$WORK/rt-tree"
  rt_reset
  for i in $(seq "$RT_SNAPS"); do
    echo "snap $cfg $i $RANDOM$RANDOM" | cli A put - >/dev/null
    cli A snapshot create >/dev/null
  done
  n=$(rt_count)
  per_snap=$(awk -v n="$n" -v m="$RT_SNAPS" -v p="$per_put" 'BEGIN { printf "%.1f", n / m - p }')
  RT_DETAIL+=$(rt_section "$cfg, per (put + \`snapshot create\`) pair:" "calls per pair" "$RT_SNAPS")$'\n'
  RT_ROWS+=("| $cfg | $per_put | $per_r | $per_snap | $(printf %.2f "$IDLE_RATE") |")
}

# snapshot_big CONFIG: SNAP_N tiny assets in namespace big, cold snapshot,
# MORE more, incremental snapshot
snapshot_big() {
  local cfg=$1 t c1 c2 n1="-" n2="-" rate_
  say "$cfg: put -r of $SNAP_N tiny files (namespace big)"
  cli A ns create big >/dev/null
  # put -r gives up on a commit that keeps conflicting (ABORTED TXN_CONFLICT,
  # seen on PostgreSQL): run it again (what is stored already dedups), up to 3
  # times, and say so
  local tries=0 t0
  t0=$(date +%s.%N)
  until cli A put -r "$WORK/tiny" --ns big -j 16 >/dev/null 2>"$WORK/fill.err"; do
    tries=$((tries + 1))
    say "$cfg: put -r failed ($(head -c 120 "$WORK/fill.err")); again"
    if [ $tries = 3 ]; then
      SNAP_ROWS+=("| $cfg | $SNAP_N | put -r failed 3 times: $(head -c 60 "$WORK/fill.err") | - | - | - | - | - |")
      return 0
    fi
  done
  t=$(since "$t0")
  rate_=$(rate "$SNAP_N" "$t")
  [ $tries = 0 ] || rate_="$rate_ ($tries re-runs after TXN_CONFLICT)"
  say "$cfg: snapshots of $SNAP_N assets"
  # the SDK call alone (connection open): cold, then after MORE puts; then the
  # CLI process (start, connect, call) after another MORE
  [ ${#PSQL[@]} -gt 0 ] && { idle_rate; rt_reset; }
  c1=$(AIFS_SERVER=$ADDR_A $PY "$WORK/client.py" snap big)
  if [ ${#PSQL[@]} -gt 0 ]; then
    n1=$(rt_count)
    SNAP_DETAIL+=$(rt_section "$cfg, the cold snapshot of $SNAP_N assets:" calls 1)$'\n'
  fi
  cli A put -r "$WORK/more" --ns big --prefix more/ >/dev/null
  [ ${#PSQL[@]} -gt 0 ] && rt_reset
  c2=$(AIFS_SERVER=$ADDR_A $PY "$WORK/client.py" snap big)
  if [ ${#PSQL[@]} -gt 0 ]; then
    n2=$(rt_count)
    SNAP_DETAIL+=$(rt_section "$cfg, the snapshot after $MORE puts:" calls 1)$'\n'
  fi
  cli A put -r "$WORK/more2" --ns big --prefix more2/ >/dev/null
  t=$(tm cli A snapshot create --ns big)
  SNAP_ROWS+=("| $cfg | $SNAP_N | $rate_ | $c1 | $c2 | $(awk -v t="$t" 'BEGIN { printf "%.0f", t * 1000 }') | $n1 | $n2 |")
}

# setup CONFIG META CHUNKS SERVERS: data directories a (creates) and b, c (join)
setup() {
  local cfg=$1 meta=$2 chunks=$3 n=$4 s
  local d=$WORK/$cfg
  if [ -n "$meta" ]; then
    "$AIFS" --data "$d/a" -q init --meta "$meta" --chunks "$chunks" >/dev/null
  else
    "$AIFS" --data "$d/a" -q init >/dev/null
  fi
  if [ "$n" = 3 ]; then
    for s in b c; do
      "$AIFS" --data "$d/$s" -q init --meta "$meta" --kms "local://$d/a/kms/master.keys" >/dev/null
    done
  fi
  export AIFS_TOKEN=@$d/a/admin.token
  start_srv A "$d/a"
}

pg_up() {
  say "starting PostgreSQL (durable, pg_stat_statements)"
  PG_URL=$(PG_DURABLE=1 PG_EXTRA_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.max=1000" \
    "$ROOT/scripts/pg-up.sh" "$WORK/pg" $PG_PORT)
  PSQL=(psql -h "$WORK/pg/sock" -p $PG_PORT -U aifs -d aifs -q)
  pg_q "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
  # PostgreSQL's own latencies on this socket, one client (pgbench): a
  # statement round trip, and an autocommit insert (a durable commit)
  local pgbench b
  pgbench=$(cat "$WORK/pg/bin")/pgbench
  pg_q "CREATE TABLE pgb (v int)" >/dev/null
  echo "SELECT 1;" >"$WORK/pgb-select.sql"
  echo "INSERT INTO pgb VALUES (1);" >"$WORK/pgb-insert.sql"
  for b in select insert; do
    R[pg.$b]=$("$pgbench" -h "$WORK/pg/sock" -p $PG_PORT -U aifs -n -c 1 -T "$BENCH_S" -f "$WORK/pgb-$b.sql" aifs 2>/dev/null |
      awk '/^latency average/ { print $4 }')
  done
  pg_q "DROP TABLE pgb" >/dev/null
}

# ceph_up [--rgw]: a fresh cluster; measures its ceilings
ceph_up() {
  "$ROOT/scripts/ceph-down.sh" "$WORK/ceph" >/dev/null 2>&1 || true
  say "starting Ceph $*"
  "$ROOT/scripts/ceph-up.sh" "$WORK/ceph" --mon-port $MON_PORT "$@" >/dev/null 2>"$WORK/ceph-up.err" ||
    { cat "$WORK/ceph-up.err" >&2; exit 1; }
  export CEPH_CONF=$WORK/ceph/ceph.conf
}
rados_ceiling() {
  local w r
  say "rados bench: write, seq ($BENCH_S s, 4 MiB, 16 in flight)"
  # at most 1 GiB of objects: the memstore OSD holds 4 GiB
  w=$(rados -p aifs bench "$BENCH_S" write -t 16 -b 4194304 --max-objects 256 --no-cleanup 2>&1 |
    awk '/^Bandwidth \(MB\/sec\)/ { print $3 }')
  r=$(rados -p aifs bench "$BENCH_S" seq -t 16 2>&1 | awk '/^Bandwidth \(MB\/sec\)/ { print $3 }')
  rados -p aifs cleanup >/dev/null 2>&1 || true
  # rados bench reports MiB/s (2^20 bytes)
  R[rados.write]=$(awk -v m="$w" 'BEGIN { printf "%.2f", m * 1048576 / 1e9 }')
  R[rados.read]=$(awk -v m="$r" 'BEGIN { printf "%.2f", m * 1048576 / 1e9 }')
}
rgw_ceiling() {
  local ep key secret a t_put t_get
  say "radosgw: curl PUT/GET of $RGW_MIB MiB (median of 3)"
  ep=$(cat "$WORK/ceph/s3-endpoint")
  key=$(awk -F' = ' '/aws_access_key_id/ { print $2 }' "$WORK/ceph/s3-credentials")
  secret=$(awk -F' = ' '/aws_secret_access_key/ { print $2 }' "$WORK/ceph/s3-credentials")
  a=(-sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$key:$secret" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
  head -c "${RGW_MIB}M" /dev/urandom >"$WORK/rgw-obj"
  curl "${a[@]}" -X PUT "$ep/ceiling" >/dev/null
  t_put=$(for i in 1 2 3; do tm curl "${a[@]}" -T "$WORK/rgw-obj" "$ep/ceiling/o$i"; done | median)
  t_get=$(for i in 1 2 3; do tm curl "${a[@]}" -o /dev/null "$ep/ceiling/o$i"; done | median)
  curl "${a[@]}" -o "$WORK/rgw-back" "$ep/ceiling/o1"
  cmp -s "$WORK/rgw-obj" "$WORK/rgw-back" || { echo "radosgw returned other bytes" >&2; exit 1; }
  for i in 1 2 3; do curl "${a[@]}" -X DELETE "$ep/ceiling/o$i" >/dev/null; done
  rm -f "$WORK/rgw-obj" "$WORK/rgw-back"
  R[rgw.write]=$(gbps "$t_put" "$RGW_MIB")
  R[rgw.read]=$(gbps "$t_get" "$RGW_MIB")
}

# ---- run -------------------------------------------------------------------
has() { [[ ",$ONLY," == *",$1,"* ]]; }
if has embedded; then
  say "embedded"
  setup embedded "" "" 1
  measure embedded 1
  snapshot_big embedded
  stop_srv A
  R[load.embedded]=$(load)
fi
if has rados || has s3; then pg_up; fi
if has rados; then
  ceph_up
  rados_ceiling
  url=$(cat "$WORK/ceph/rados-url")
  setup pg+rados "$PG_URL&schema=brados" "$url&namespace=bench" 3
  measure pg+rados 1
  round_trips pg+rados
  start_srv B "$WORK/pg+rados/b"
  start_srv C "$WORK/pg+rados/c"
  measure pg+rados 3
  snapshot_big pg+rados
  stop_srv A; stop_srv B; stop_srv C
  R[load.rados]=$(load)
  CEIL_ROWS+=("| RADOS pool (rados bench 4 MiB x 16) | write ${R[rados.write]} / seq ${R[rados.read]} | 1 server: $(ratio "${R[pg+rados.1.put]}" "${R[rados.write]}") / $(ratio "${R[pg+rados.1.get]}" "${R[rados.read]}") | 3 servers: $(ratio "${R[pg+rados.3.put]}" "${R[rados.write]}") / $(ratio "${R[pg+rados.3.get]}" "${R[rados.read]}") |")
fi
if has s3; then
  ceph_up --rgw $RGW_PORT
  rgw_ceiling
  chunks="s3://aifsbench?endpoint=$(cat "$WORK/ceph/s3-endpoint")&credentials=$WORK/ceph/s3-credentials"
  setup pg+s3 "$PG_URL&schema=bs3" "$chunks" 3
  measure pg+s3 1
  round_trips pg+s3
  start_srv B "$WORK/pg+s3/b"
  start_srv C "$WORK/pg+s3/c"
  measure pg+s3 3
  has rados || snapshot_big pg+s3  # the PostgreSQL snapshot, when RADOS is not run
  stop_srv A; stop_srv B; stop_srv C
  R[load.s3]=$(load)
  CEIL_ROWS+=("| radosgw (curl PUT / GET of $RGW_MIB MiB, 1 stream) | PUT ${R[rgw.write]} / GET ${R[rgw.read]} | 1 server: $(ratio "${R[pg+s3.1.put]}" "${R[rgw.write]}") / $(ratio "${R[pg+s3.1.get]}" "${R[rgw.read]}") | 3 servers: $(ratio "${R[pg+s3.3.put]}" "${R[rgw.write]}") / $(ratio "${R[pg+s3.3.get]}" "${R[rgw.read]}") |")
fi

# ---- report ----------------------------------------------------------------
# table HEADER ALIGNMENT ROW...: a markdown table and a blank line
table() { printf '%s\n' "$@"; echo; }
echo "## Scale-out benchmark ($(date -u +%Y-%m-%d), $(nproc) cores$([ $QUICK = 1 ] && echo ", --quick"))"
echo
echo "Load average before: $LOAD_BEFORE; after: $(load)$(for k in embedded rados s3; do [ -n "${R[load.$k]:-}" ] && printf '; after %s: %s' "$k" "${R[load.$k]}"; done)."
echo "PostgreSQL durable (fsync, synchronous commit) over a unix socket; Ceph: 1 memstore OSD, no mgr."
echo
echo "### Throughput through aifs serve"
echo
echo "Ingest: \`put\` of a ${SIZE} MiB random file; read: \`get -o /dev/null\` (median of 3); 3 servers: three clients at once, one per server, aggregate."
echo "Small: \`put -r\` of $SMALL files of 4-16 KiB (3 servers: three disjoint trees at once). StatAsset/s: Python SDK \`Client.stat\` loop, one call in flight per client, ${STAT_S} s (3 servers: one client per server, summed)."
echo
table "| configuration | servers | ingest GB/s | read GB/s | small puts/s | StatAsset/s |" \
  "|---|---:|---:|---:|---:|---:|" "${ROWS[@]}"
if [ ${#CEIL_ROWS[@]} -gt 0 ]; then
  echo "### Ceilings (same run) and AIFS / ceiling (ingest / read)"
  echo
  table "| ceiling | GB/s | AIFS / ceiling | |" "|---|---|---|---|" "${CEIL_ROWS[@]}"
fi
if [ ${#RT_ROWS[@]} -gt 0 ]; then
  echo "### PostgreSQL statements (round trips), counted by pg_stat_statements"
  echo
  echo "One server. Per \`put\`: $RT_PUTS CLI processes each putting a few bytes. Per put in \`put -r\`: $SMALL new 4-16 KiB files. Per snapshot: $RT_SNAPS pairs of (put, \`snapshot create\`) minus the put's count. The server's idle statements (per second, measured before) are subtracted; the counts include the server's own following of the log (a put's log entry is read back once by every server)."
  echo
  table "| configuration | per put | per put in put -r | per snapshot (1 change) | idle statements/s |" \
    "|---|---:|---:|---:|---:|" "${RT_ROWS[@]}"
  echo "PostgreSQL's own latency here (pgbench, 1 client, ${BENCH_S} s): \`SELECT 1\` ${R[pg.select]} ms per round trip; an autocommit \`INSERT\` (durable commit) ${R[pg.insert]} ms."
  echo "$RT_DETAIL"
fi
if [ ${#SNAP_ROWS[@]} -gt 0 ]; then
  echo "### Snapshot of $SNAP_N assets (goal <= 200 ms)"
  echo
  echo "Namespace \`big\` filled with \`put -r -j 16\` of $SNAP_N tiny distinct files. The \`CreateSnapshot\` call alone (Python SDK, connection open): cold (the namespace's first snapshot), then after $MORE more puts (incremental); then the whole \`aifs snapshot create\` process (start, connect, call) after another $MORE. Statements: PostgreSQL statements of the cold and of the incremental call."
  echo
  table "| store | assets | put -r files/s | cold snapshot ms | after $MORE puts ms | CLI process after $MORE puts ms | statements cold | statements incremental |" \
    "|---|---:|---:|---:|---:|---:|---:|---:|" "${SNAP_ROWS[@]}"
  [ -z "$SNAP_DETAIL" ] || echo "$SNAP_DETAIL"
fi
echo "uptime before: $UPTIME_BEFORE"
echo "uptime after: $(uptime)"
exit
}
