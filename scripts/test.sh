#!/usr/bin/env bash
# The test command: installs dependencies, starts the real PostgreSQL + Elasticsearch test stack,
# runs the whole suite against it and prints "N passed, N failed, N skipped".
# Extra arguments go to vitest (e.g. a file filter). ES_VERSION picks the Elasticsearch version.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
bash scripts/stack.sh up
eval "$(bash scripts/stack.sh env)"

report=.vitest-report.json
rm -f "$report"
status=0
npx vitest run --reporter=default --reporter=json --outputFile="$report" "$@" || status=$?
if [ ! -f "$report" ]; then
  echo "vitest wrote no report (exit $status)"
  echo "0 passed, 1 failed"
  exit 1
fi
node scripts/test-summary.mjs "$report"
exit "$status"
