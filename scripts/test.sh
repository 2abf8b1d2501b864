#!/usr/bin/env bash
# The test command: installs dependencies, starts the real PostgreSQL + Elasticsearch test stack,
# runs the whole suite against it, then the extra stages (other engines, other PostgreSQL
# versions, other Node versions, the packed tarball), and prints one closing line
# "N passed, N failed, N skipped" summed over every stage.
# Extra arguments go to vitest (e.g. a file filter) and run the main stage only.
# ES_VERSION picks the Elasticsearch version, OS_VERSION the OpenSearch 2.x one; PGSEARCH_TEST_EXTRA=0
# skips the extra stages.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
bash scripts/stack.sh up
eval "$(bash scripts/stack.sh env)"

reports=.test-reports
rm -rf "$reports" .vitest-report.json
mkdir -p "$reports"
checks=$reports/checks.txt
: >"$checks"
expected=()
status=0

# A vitest stage on the runtime node (below): its name, then vitest's arguments. Its JSON report
# feeds the closing line.
run_vitest() {
  run_vitest_on "$runtime_node" "$@"
}
# run_vitest with another node binary: its path, the stage name, vitest's arguments.
run_vitest_on() {
  local node=$1 name=$2
  shift 2
  echo "== stage $name ($("$node" --version))"
  expected+=("$reports/$name.json")
  "$node" node_modules/vitest/vitest.mjs run --reporter=default --reporter=json \
    --outputFile="$reports/$name.json" "$@" || status=1
}
# A check that is not a vitest file (a script that exits 0 or not): counts as one test.
run_check() {
  local name=$1
  shift
  echo "== check $name"
  if "$@"; then echo "ok $name" >>"$checks"; else
    echo "failed $name" >>"$checks"
    status=1
  fi
}

# OpenSearch (issue 16): start the given version, run the files against it (ES_URL points at it, so
# the sync suites run unchanged; test/opensearch runs its OpenSearch body only), stop it.
run_opensearch_stage() {
  local version=$1 url
  shift
  if ! OS_VERSION=$version bash scripts/stack.sh up opensearch; then
    echo "failed opensearch-$version: server did not start" >>"$checks"
    status=1
    return
  fi
  url=$(OS_VERSION=$version bash scripts/stack.sh env | sed -n 's/^export OS_URL=//p')
  OS_URL=$url ES_URL=$url TEST_ENGINES=opensearch run_vitest "opensearch-${version%%.*}" "$@"
  OS_VERSION=$version bash scripts/stack.sh down opensearch
}

# The stages run on the runtime pgsearch is for: the machine's node when it is 22 or later,
# else Node 24 LTS from PyPI (Node 20, common on fresh machines, is end-of-life).
if ! runtime_node=$(bash scripts/node-lts.sh runtime); then
  echo "no Node 22 or later, and Node 24 could not be installed" >&2
  exit 1
fi
runtime_major=$("$runtime_node" -p 'process.versions.node.split(".")[0]')
run_vitest main "$@"
if [ $# -eq 0 ] && [ "${PGSEARCH_TEST_EXTRA:-1}" != 0 ]; then
  # Issue 13's limits: no function over 80 lines, no file over 400 (code lines)
  run_check size-limits node scripts/check-size.mjs src
  : # extra stages: see below
  # Packaging (issue 14): the packed tarball installs into an empty project and syncs (~1 min);
  # the Dockerfile is hadolint-clean (~20 s).
  run_check pack-check bash scripts/pack-check.sh
  run_check hadolint bash scripts/lint-docker.sh
  # Node 24 LTS, the primary runtime, and Node 22, still supported (engines >=22): whichever the
  # main stage did not run on (PyPI's wheels; ~3 min for 24, ~1 min for 22).
  for major in 24 22; do
    [ "$major" = "$runtime_major" ] && continue
    if node_bin=$(bash scripts/node-lts.sh "$major"); then
      if [ "$major" = 24 ]; then
        run_vitest_on "$node_bin" node24 test/cli test/config test/sync/full-sync.test.ts
      else
        run_vitest_on "$node_bin" node22 test/config test/sync/full-sync.test.ts test/sync/follow.test.ts
      fi
    else
      echo "failed node$major: Node $major could not be installed" >>"$checks"
      status=1
    fi
  done
  # 2.x: the engine tests and the sync, incremental, follow and fault suites; 3.x: all but the
  # fault suite (its 429 storm and kill -9 runs are the longest and engine-independent).
  run_opensearch_stage "${OS_VERSION:-2.19.6}" test/opensearch test/sync/full-sync.test.ts \
    test/sync/incremental.test.ts test/sync/follow.test.ts test/sync/resilience.test.ts
  run_opensearch_stage 3.3.2 test/opensearch test/sync/full-sync.test.ts test/sync/incremental.test.ts \
    test/sync/follow.test.ts
  # PostgreSQL 12 and 18 beside 15: the version-dependent files (scripts/pg-matrix.sh, docs/testing.md).
  for pg_major in ${PGSEARCH_PG_MATRIX:-12 18}; do
    if pg_env=$(bash scripts/pg-matrix.sh up "$pg_major"); then
      eval "$pg_env"
      mapfile -t pg_args < <(bash scripts/pg-matrix.sh args)
      run_vitest "pg$pg_major" "${pg_args[@]}"
    else
      echo "failed pg$pg_major (server did not start)" >>"$checks"
      status=1
    fi
    unset PG_BIN PG11_PORT
    eval "$(bash scripts/stack.sh env)"
  done
fi

# The secured node security.test.ts started (it outlives the test files that share it).
bash scripts/es-secure.sh down >/dev/null 2>&1 || true
node scripts/test-summary.mjs --checks "$checks" "${expected[@]}"
exit "$status"
