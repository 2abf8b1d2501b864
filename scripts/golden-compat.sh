#!/usr/bin/env bash
# Regenerates test/compat/golden.json: runs Elastic's PostgreSQL connector (elastic/connectors, a
# checkout outside this repository) on test/compat/fixture.sql and records the documents it sends.
#   scripts/golden-compat.sh /path/to/elastic/connectors [/path/to/venv]
# Needs the test stack's PostgreSQL (eval "$(scripts/stack.sh env)") and Python 3.11; the venv is
# created from the checkout's own pyproject.toml when missing.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
upstream="$(cd "${1:?usage: golden-compat.sh CONNECTORS_CHECKOUT [VENV]}" && pwd)"
venv="${2:-$upstream/../venv}"
schema=compat_golden
: "${PGHOST:?run eval \"\$(scripts/stack.sh env)\" first}"

if [ ! -x "$venv/bin/python" ]; then
  python3.11 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip setuptools wheel
  # The app's pyproject names the SDK by a relative file URL: install the SDK, then the rest.
  "$venv/bin/python" - "$upstream" >"$venv/reqs.txt" <<'PY'
import sys, tomllib
d = tomllib.load(open(sys.argv[1] + "/app/connectors_service/pyproject.toml", "rb"))
print("\n".join(r for r in d["project"]["dependencies"] if "sdk" not in r))
PY
  "$venv/bin/pip" install -q -e "$upstream/libs/connectors_sdk" -r "$venv/reqs.txt"
  "$venv/bin/pip" install -q --no-deps -e "$upstream/app/connectors_service"
fi

{
  echo "DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema; SET search_path = $schema;"
  cat "$here/test/compat/fixture.sql"
} | psql -v ON_ERROR_STOP=1 -q -o /dev/null

commit="$(git -C "$upstream" rev-parse HEAD)"
tmp="$(mktemp)"
"$venv/bin/python" "$here/scripts/golden_compat.py" "$PGHOST" "$PGPORT" "$PGUSER" "$PGPASSWORD" \
  "$PGDATABASE" "$schema" "$here/test/compat/rules.json" >"$tmp"
"$venv/bin/python" - "$tmp" "$commit" "$PGDATABASE" "$schema" >"$here/test/compat/golden.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
head = {"upstream": "elastic/connectors", "commit": sys.argv[2], "database": sys.argv[3], "schema": sys.argv[4]}
print(json.dumps({**head, **data}, indent=1, ensure_ascii=False, sort_keys=False))
PY
rm -f "$tmp"
psql -q -c "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1
echo "wrote test/compat/golden.json from elastic/connectors $commit"
