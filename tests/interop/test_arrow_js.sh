#!/usr/bin/env bash
# Interop proof between AIFS tensor assets and the Apache Arrow JS
# implementation (npm package apache-arrow, version pinned in
# arrow_js/package-lock.json):
#   read.mjs   AIFS writes (aifs_tensor_tool write), apache-arrow reads and checks
#   write.mjs  apache-arrow writes, AIFS decodes (aifs_tensor_tool read) and checks
# usage: test_arrow_js.sh PATH/TO/aifs_tensor_tool
# Needs node and npm with the npm registry reachable: without them this test
# FAILS (it never skips).
set -euo pipefail
tool=${1:?usage: test_arrow_js.sh PATH/TO/aifs_tensor_tool}
tool=$(cd "$(dirname "$tool")" && pwd)/$(basename "$tool")
src=$(cd "$(dirname "$0")/arrow_js" && pwd)
die() { echo "FAIL: $*" >&2; exit 1; }
[ -x "$tool" ] || die "$tool is not an executable"
command -v node >/dev/null || die "node is not installed (scripts/install-deps.sh)"
command -v npm >/dev/null || die "npm is not installed (scripts/install-deps.sh)"

# Work in a scratch copy, so node_modules never lands in the source tree.
work=$(mktemp -d "${TMPDIR:-/tmp}/aifs-arrow-js.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$src/package.json" "$src/package-lock.json" "$src"/*.mjs "$work/"
mkdir "$work/data"
echo "== npm ci (apache-arrow $(grep -m1 '"apache-arrow"' "$src/package.json" | tr -dc '0-9.'))"
(cd "$work" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed (is the npm registry reachable?)"

echo "== AIFS writes, apache-arrow reads"
node "$work/read.mjs" "$tool" "$work/data" || die "read.mjs"
echo "== apache-arrow writes, AIFS reads"
node "$work/write.mjs" "$tool" "$work/data" || die "write.mjs"
echo "arrow_js interop: OK"
