#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: deps, build, CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
cd build
ctest --output-on-failure -j2 --timeout 900
