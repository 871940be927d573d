#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time
# (default 60 s). New crash inputs land in fuzz/regressions/<kind>/ — commit them.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DAIFS_FUZZ=ON -DAIFS_BUILD_TESTS=OFF \
  -DAIFS_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build-fuzz $(cd fuzz && ls fuzz_*.cpp | sed 's/\.cpp$//')
for src in fuzz/fuzz_*.cpp; do
  name=$(basename "$src" .cpp); kind=${name#fuzz_}
  mkdir -p "fuzz/regressions/$kind" "build-fuzz/corpus/$kind"
  echo "== $name for ${secs}s"
  (cd "fuzz/regressions/$kind" &&
    ../../../build-fuzz/fuzz/$name -max_total_time="$secs" -artifact_prefix=./ \
      ../../../build-fuzz/corpus/$kind . ) || echo "$name found a crash: see fuzz/regressions/$kind"
done
