#!/usr/bin/env bash
# Installs every Debian 12 package the build, tests and benchmarks need. Idempotent.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev libzstd-dev libssl-dev libsodium-dev
  librust-blake3-dev b3sum
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-numpy restic
  # benchmarks' peers: fio (aifs_grpc_bench's random reads), restic (aifs_ingest_bench)
  fio
  # gRPC interop test: Python client with stubs generated from proto/; zstd frames via the CLI
  python3-grpcio python3-grpc-tools python3-protobuf zstd
  # metrics exposition checked by Prometheus's own promtool (ServerTest.MetricsPassPromtool)
  prometheus
  # asset kinds: Arrow IPC / FlatBuffers / ZIP, interop readers, fuzzing
  flatbuffers-compiler libflatbuffers-dev python3-flatbuffers libzip-dev zip unzip
  # vector search (header-only hnswlib); FAISS (static, with BLAS/LAPACK) for aifs_vector_bench
  libhnswlib-dev libfaiss-dev
  # capability tokens (macaroons), and the pymacaroons interop test
  libmacaroons-dev python3-pymacaroons
  clang libclang-rt-14-dev
  # PKCS#11 KMS: pkcs11.h (p11-kit) to build; SoftHSM2 as the token in tests
  libp11-kit-dev softhsm2
  # HTTP data plane (libmicrohttpd) and its independent clients in tests
  libmicrohttpd-dev curl wget aria2
  # the mount (libfuse3) and the tools its tests read it with (getfattr)
  libfuse3-dev fuse3 attr
  # the Python SDK (python/): runtime, its tests (pytest) and aifs.torch; pip
  # for the offline install test
  python3-cryptography python3-pytest python3-torch python3-pip python3-venv
  # the postgresql:// MetaStore (plain libpq) and the server its tests start (scripts/pg-up.sh)
  libpq-dev postgresql-15
  # the rados:// and s3:// ChunkStores (librados, libcurl's SigV4) and the
  # throwaway Ceph cluster their tests start (scripts/ceph-up.sh: mon, OSD, radosgw)
  librados-dev libcurl4-openssl-dev ceph-mon ceph-osd ceph-common radosgw uuid-runtime
)
# Node.js (Apache Arrow JS interop tests): the image may bring its own; only
# fall back to Debian's when there is none.
command -v node >/dev/null || PKGS+=(nodejs)
command -v npm >/dev/null || PKGS+=(npm)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
