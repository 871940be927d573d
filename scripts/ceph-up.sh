#!/usr/bin/env bash
# Starts a throwaway Ceph cluster for tests and benchmarks, on 127.0.0.1 only,
# without systemd and without ceph-mgr:
#   scripts/ceph-up.sh DIR [--osds N] [--mon-port P] [--rgw PORT] [--bluestore]
# One monitor, N memstore OSDs (default 1; pool size min(N,3)), the pool
# "aifs", and with --rgw a radosgw (S3) on 127.0.0.1:PORT with the bucket-less
# user aifs. Everything lives in DIR: ceph.conf, keyring, logs, daemon data,
# DIR/pids (one "name pid" line per daemon, for ceph-down.sh and fault tests).
# Writes DIR/rados-url (the ChunkStore URL of the pool) and with --rgw
# DIR/s3-endpoint and DIR/s3-credentials (an AWS-style credentials file).
# Exit 77 when the Ceph daemons are not installed (tests report themselves
# skipped). Stop with scripts/ceph-down.sh DIR.
set -euo pipefail
usage() { echo "usage: $0 DIR [--osds N] [--mon-port P] [--rgw PORT] [--bluestore]" >&2; exit 2; }
[ $# -ge 1 ] || usage
DIR=$1; shift
OSDS=1 MON_PORT=3300 RGW_PORT="" STORE=memstore
while [ $# -gt 0 ]; do
  case $1 in
    --osds) OSDS=$2; shift 2 ;;
    --mon-port) MON_PORT=$2; shift 2 ;;
    --rgw) RGW_PORT=$2; shift 2 ;;
    --bluestore) STORE=bluestore; shift ;;
    *) usage ;;
  esac
done
for b in ceph-mon ceph-osd ceph ceph-authtool monmaptool rados uuidgen; do
  command -v $b >/dev/null || { echo "ceph-up: $b is not installed (scripts/install-deps.sh)" >&2; exit 77; }
done
if [ -n "$RGW_PORT" ]; then
  for b in radosgw radosgw-admin; do
    command -v $b >/dev/null || { echo "ceph-up: $b is not installed" >&2; exit 77; }
  done
fi
if [ -s "$DIR/pids" ]; then echo "ceph-up: a cluster already runs in $DIR" >&2; exit 1; fi
rm -rf "$DIR"
mkdir -p "$DIR"/{run,log,crash,mon.a}
DIR=$(cd "$DIR" && pwd)
t0=$(date +%s%N)
say() { echo "ceph-up: [$(( ($(date +%s%N) - t0) / 1000000 )) ms] $*" >&2; }
REPL=$(( OSDS < 3 ? OSDS : 3 ))
FSID=$(uuidgen)
CONF=$DIR/ceph.conf
# Settings for one host (facts from ../shared/SCALE-OUT.md): keyrings per
# section, msgr v2 only on 127.0.0.1, no pg autoscaling (no mgr), replicas
# chosen across OSDs rather than hosts, and a low disk-space warning level.
cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon_host = v2:127.0.0.1:$MON_PORT
mon_initial_members = a
public_network = 127.0.0.1/32
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv6 = false
ms_bind_msgr1 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
run_dir = $DIR/run
admin_socket = $DIR/run/\$cluster-\$name.asok
pid_file = $DIR/run/\$name.pid
log_file = $DIR/log/\$name.log
mon_cluster_log_file = $DIR/log/cluster.log
crash_dir = $DIR/crash
osd_pool_default_size = $REPL
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
mon_max_pg_per_osd = 1000
mon_data_avail_warn = 2
mon_data_avail_crit = 1
auth_allow_insecure_global_id_reclaim = false
# a killed OSD is noticed within seconds (fault tests)
osd_heartbeat_grace = 6
osd_heartbeat_interval = 2
mon_osd_down_out_interval = 30
[mon]
mon_data = $DIR/mon.\$id
keyring = $DIR/mon.\$id/keyring
[osd]
osd_data = $DIR/osd.\$id
keyring = $DIR/osd.\$id/keyring
osd_objectstore = $STORE
memstore_device_bytes = 4294967296
bluestore_block_create = true
bluestore_block_size = 10737418240
osd_memory_target = 939524096
osd_op_num_shards = 2
osd_op_num_threads_per_shard = 1
[client]
keyring = $DIR/keyring
# one socket per client instance: several in one process, or the rados tool
# beside a test, would otherwise fight over one path (and print errors)
admin_socket = $DIR/run/\$cluster-\$name.\$pid.\$cctid.asok
log_file = $DIR/log/\$name.\$pid.log
rgw_data = $DIR/rgw.\$id
rgw_dns_name = localhost
EOF
export CEPH_CONF=$CONF
ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$DIR/keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$DIR/monmap" >/dev/null
ceph-mon --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring" >"$DIR/log/mon-mkfs.log" 2>&1 ||
  { cat "$DIR/log/mon-mkfs.log" >&2; exit 1; }
: >"$DIR/pids"
start() {  # name, command...: a daemon in its own session, its PID recorded
  local name=$1; shift
  setsid "$@" >>"$DIR/log/$name.out" 2>&1 </dev/null &
  echo "$name $!" >>"$DIR/pids"
}
alive() {  # every daemon started so far still runs
  local name pid
  while read -r name pid; do kill -0 "$pid" 2>/dev/null || { echo "ceph-up: $name exited" >&2; return 1; }; done <"$DIR/pids"
}
fail() { echo "ceph-up: $*" >&2; tail -n 20 "$DIR"/log/*.out >&2 || true; "$(dirname "$0")/ceph-down.sh" "$DIR" >/dev/null 2>&1 || true; exit 1; }
start mon.a ceph-mon -i a -f
for i in $(seq 1 120); do alive || break; ceph -s --connect-timeout 2 >/dev/null 2>&1 && break; sleep 0.25; done
ceph -s --connect-timeout 2 >/dev/null 2>&1 || fail "the monitor did not come up"
say "monitor up"
for n in $(seq 0 $((OSDS - 1))); do
  uuid=$(uuidgen)
  id=$(ceph osd new "$uuid")
  mkdir -p "$DIR/osd.$id"
  ceph auth get-or-create "osd.$id" mon 'allow profile osd' mgr 'allow profile osd' osd 'allow *' >"$DIR/osd.$id/keyring"
  ceph-osd -i "$id" --mkfs --osd-uuid "$uuid" >"$DIR/log/osd.$id-mkfs.log" 2>&1 || fail "osd.$id mkfs failed"
  start "osd.$id" ceph-osd -i "$id" -f
done
for i in $(seq 1 240); do
  alive || break
  ceph osd stat -f json 2>/dev/null | grep -q "\"num_up_osds\":$OSDS" && break
  sleep 0.25
done
ceph osd stat -f json 2>/dev/null | grep -q "\"num_up_osds\":$OSDS" || fail "the OSDs did not come up"
say "$OSDS OSD(s) up"
ceph osd pool create aifs 8 8 >/dev/null 2>&1
ceph osd pool application enable aifs rados >/dev/null 2>&1
# Without a mgr `ceph pg stat` does not answer; a write blocks until the
# pool's placement groups are active, which is the readiness that matters.
timeout 120 rados -p aifs put __probe /dev/null || fail "the pool did not become writable"
rados -p aifs rm __probe
echo "rados://aifs?conf=$CONF&id=admin" >"$DIR/rados-url"
say "pool aifs writable"
if [ -n "$RGW_PORT" ]; then
  mkdir -p "$DIR/rgw.x"
  ceph auth get-or-create client.rgw.x mon 'allow rw' osd 'allow rwx' mgr 'allow rw' >"$DIR/rgw.x/keyring"
  start rgw.x radosgw -n client.rgw.x -f --keyring "$DIR/rgw.x/keyring" \
    --rgw-frontends "beast endpoint=127.0.0.1:$RGW_PORT"
  for i in $(seq 1 480); do alive || break; curl -s -o /dev/null "http://127.0.0.1:$RGW_PORT/" && break; sleep 0.25; done
  curl -s -o /dev/null "http://127.0.0.1:$RGW_PORT/" || fail "radosgw did not come up"
  # A fresh secret per cluster: tests must read it from the file, never guess it.
  secret=$(head -c 30 /dev/urandom | base64 | tr -d '/+=' | head -c 40)
  radosgw-admin user create --uid=aifs --display-name=aifs --access-key=AIFSTESTACCESSKEY \
    --secret-key="$secret" >/dev/null
  umask 077
  printf '[default]\naws_access_key_id = AIFSTESTACCESSKEY\naws_secret_access_key = %s\n' "$secret" \
    >"$DIR/s3-credentials"
  echo "http://127.0.0.1:$RGW_PORT" >"$DIR/s3-endpoint"
  say "radosgw up on 127.0.0.1:$RGW_PORT"
fi
cat "$DIR/rados-url"
