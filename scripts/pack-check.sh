#!/usr/bin/env bash
# Packs the checkout's tracked files as `npm publish` would (prepack builds), installs the tarball
# into an empty project and runs a real sync with the installed `pgsearch` against the test stack.
# Prints "pack-check: ok". Needs the stack (scripts/stack.sh up) and the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
[ -n "${ES_URL:-}" ] || eval "$(bash scripts/stack.sh env)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The clean checkout: tracked (and not ignored) files only (no dist/, no .stack), built by prepack.
mkdir -p "$work/src"
git ls-files -z --cached --others --exclude-standard | xargs -0 tar -cf - | tar -xf - -C "$work/src"
ln -s "$repo/node_modules" "$work/src/node_modules"
(cd "$work/src" && npm pack --silent --pack-destination "$work" >"$work/pack.log")
tarball=$(ls "$work"/pgsearch-*.tgz)
listing=$(tar -tzf "$tarball")
for f in package/LICENSE package/dist/cli/main.js package/bin/pgsearch.js package/bin/elastic-ingest; do
  grep -qx "$f" <<<"$listing" || { echo "pack-check: $f missing from the tarball" >&2; exit 1; }
done
if grep -q '^package/src/' <<<"$listing"; then echo "pack-check: src/ shipped" >&2; exit 1; fi
# Source maps must carry their sources (src/ is not shipped).
tar -xzf "$tarball" -C "$work" package/dist/cli/main.js.map
grep -q '"sourcesContent"' "$work/package/dist/cli/main.js.map" || {
  echo "pack-check: source maps without sourcesContent" >&2
  exit 1
}

# An empty project installs the tarball from the registry like a user would.
mkdir -p "$work/app"
cd "$work/app"
npm init -y >/dev/null
npm install --no-audit --no-fund --silent "$tarball"
bin=$work/app/node_modules/.bin
"$bin/pgsearch" --version >/dev/null
"$bin/elastic-ingest" --help | grep -q -- "--config" || { echo "pack-check: elastic-ingest is not serve" >&2; exit 1; }

schema=pack_check_$$
index=pack-check-$$
node --input-type=module -e "
import pg from 'pg';
const c = new pg.Client();
await c.connect();
await c.query('CREATE SCHEMA $schema; CREATE TABLE $schema.item (id int PRIMARY KEY, name text)');
await c.query(\"INSERT INTO $schema.item SELECT g, 'item ' || g FROM generate_series(1, 25) g\");
await c.end();
"
cleanup() {
  node --input-type=module -e "
import pg from 'pg';
const c = new pg.Client();
await c.connect();
await c.query('DROP SCHEMA IF EXISTS $schema CASCADE');
await c.end();
" || true
  curl -s -X DELETE "$ES_URL/$index" >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cat >config.yml <<YAML
elasticsearch:
  host: $ES_URL
index_name: $index
configuration:
  host: $PGHOST
  port: $PGPORT
  username: $PGUSER
  password: \${PGPASSWORD}
  database: $PGDATABASE
  schema: $schema
YAML
"$bin/pgsearch" sync -c config.yml --json >result.json
count=$(curl -s "$ES_URL/$index/_count" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).count))')
if [ "$count" != 25 ]; then
  echo "pack-check: the installed pgsearch synced $count documents, expected 25" >&2
  exit 1
fi
echo "pack-check: ok ($(du -k "$tarball" | cut -f1) kB tarball, 25 rows synced by the installed bin)"
