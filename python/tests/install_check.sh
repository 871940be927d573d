#!/usr/bin/env bash
# `pip install ./python` offline into a temporary target, then import it from
# elsewhere: the wheel must carry the generated stubs (aifs.v1) and nothing may
# be fetched (PIP_NO_INDEX). Exit 77 (skip) without pip or the runtime modules.
set -euo pipefail
src=${1:?usage: install_check.sh PYTHON_DIR}
py=/usr/bin/python3
$py -m pip --version >/dev/null 2>&1 || { echo "SKIP: no pip (python3-pip)"; exit 77; }
$py -c "import grpc, google.protobuf, numpy" 2>/dev/null || { echo "SKIP: grpc/protobuf/numpy missing"; exit 77; }
tmp=$(mktemp -d /tmp/aifs-pip.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp -r "$src" "$tmp/python"          # a copy: pip builds in place
rm -rf "$tmp/python/build" "$tmp/python"/*.egg-info
ln -s "$(cd "$src/.." && pwd)/proto" "$tmp/proto"  # the protos sit next to python/
for mode in isolated no-isolation; do
  args=(--no-deps --target "$tmp/site-$mode")
  [ $mode = no-isolation ] && args+=(--no-build-isolation)
  PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 $py -m pip install -q "${args[@]}" "$tmp/python"
  (cd / && PYTHONPATH="$tmp/site-$mode" $py - "$tmp/site-$mode" <<'PY'
import os, sys
import aifs, aifs.v1.aifs_pb2 as pb, aifs.v1.aifs_pb2_grpc as svc
site = sys.argv[1]
assert aifs.__file__.startswith(site), aifs.__file__
assert pb.__file__.startswith(site) and hasattr(svc, "AifsStub")
assert pb.PutHeader(path="x").HasField("path")  # proto3 optional survived
a = aifs.tensor.decode(aifs.tensor.encode([[1, 2], [3, 4]]))
assert a.shape == (2, 2)
print("installed and imported:", os.path.dirname(aifs.__file__))
PY
  )
done
echo "python.install: OK (offline, with and without build isolation)"
