#!/usr/bin/env bash
# Issue 18's proof: N fresh-clone CI runs in a row (`CI=true bash .ci/run` on a clean clone of this
# repository's HEAD) while a second, independent stack loads the machine: its own PostgreSQL and
# Elasticsearch on other ports and data directories, running the functional test (generate, full
# sync, change, re-sync, compare) back to back.
#   scripts/ci-under-load.sh [N]     (default 5; prints each run's closing line, then a tally)
# The default stack's ports (55432, 59200, ...) must be free: the clones start their own.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
work=$(mktemp -d /tmp/ci-under-load.XXXXXX)
chmod 755 "$work"
load_ports=(ES_PORT=59260 ES_TRANSPORT_PORT=59360 PG_PORT=55460)

git clone -q "$ROOT" "$work/load"
(cd "$work/load" && npm ci --no-audit --no-fund >/dev/null && env "${load_ports[@]}" bash scripts/stack.sh up) || exit 1
(
  cd "$work/load" || exit 1
  eval "$(env "${load_ports[@]}" bash scripts/stack.sh env)"
  while :; do npm run --silent ftest -- --size small >>"$work/load.log" 2>&1; done
) &
loader=$!
cleanup() {
  kill -- "-$loader" 2>/dev/null || pkill -P "$loader" 2>/dev/null
  kill "$loader" 2>/dev/null
  (cd "$work/load" && env "${load_ports[@]}" bash scripts/stack.sh down >/dev/null 2>&1)
}
trap cleanup EXIT

green=0
for i in $(seq 1 "$runs"); do
  clone=$work/ci$i
  git clone -q "$ROOT" "$clone"
  started=$(date +%s)
  (cd "$clone" && CI=true bash .ci/run >"$work/ci$i.log" 2>&1)
  status=$?
  line=$(tail -n 1 "$work/ci$i.log")
  echo "run $i: exit $status in $(($(date +%s) - started)) s, load $(cut -d' ' -f1-3 /proc/loadavg): $line"
  [ "$status" = 0 ] && green=$((green + 1))
  (cd "$clone" && bash scripts/stack.sh down >/dev/null 2>&1)
done
echo "load: $(grep -c '^ftest small: passed' "$work/load.log") functional tests passed, $(grep -c '^ftest small: FAILED' "$work/load.log") failed beside the CI runs"
echo "$green of $runs fresh-clone runs green (logs in $work)"
[ "$green" = "$runs" ]
