#!/usr/bin/env bash
# Runs a TypeScript entry point (bench, ftest, the CLI from source) on the runtime pgsearch is for:
# the machine's node when it is 22 or later, else Node 24 LTS (scripts/node-lts.sh runtime).
#   bash scripts/run-ts.sh bench/bench.ts --size narrow200k
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
node_bin=$(bash "$root/scripts/node-lts.sh" runtime)
exec "$node_bin" --import tsx "$@"
