#!/usr/bin/env bash
# What pgsearch's bookkeeping (_pgsearch, _timestamp) costs in the index: syncs N narrow rows
# (default 200000) into a new index with the CLI, lets the retention lease move on and merges
# (which drops the transient _recovery_source), then prints Elasticsearch's per-field
# _disk_usage and the bookkeeping share. Needs the test stack: eval "$(scripts/stack.sh env)".
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-200000}
schema=bench_bookkeeping
index=bench-bookkeeping
psql -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema;
  CREATE TABLE $schema.items (id int PRIMARY KEY, name text, qty int, price numeric(10,2));
  INSERT INTO $schema.items SELECT g, 'item ' || left(md5(g::text), 12), g % 100, (g % 1000) / 10.0
  FROM generate_series(1, $rows) g;"
curl -s -XDELETE "$ES_URL/$index" >/dev/null
config=$(mktemp --suffix .yml)
trap 'rm -f "$config"' EXIT
printf 'elasticsearch:\n  host: %s\nindex_name: %s\nconfiguration:\n  host: %s\n  port: %s\n  username: %s\n  password: ${PGPASSWORD}\n  database: %s\n  schema: %s\n' \
  "$ES_URL" "$index" "$PGHOST" "$PGPORT" "$PGUSER" "$PGDATABASE" "$schema" >"$config"
node --import tsx src/cli/main.ts sync --config "$config" >/dev/null 2>&1
sleep 40 # the peer-recovery retention lease renews every 30 s; a merge after it prunes _recovery_source
# A marker document makes the merge real (a one-segment index is not rewritten), as the next
# sync's writes would; it is deleted again before measuring.
curl -s -XPOST "$ES_URL/$index/_doc/bench-marker?refresh=true" -H 'content-type: application/json' -d '{}' >/dev/null
curl -s -XPOST "$ES_URL/$index/_forcemerge?max_num_segments=1&flush=true" >/dev/null
curl -s -XDELETE "$ES_URL/$index/_doc/bench-marker?refresh=true" >/dev/null
curl -s -XPOST "$ES_URL/$index/_forcemerge?only_expunge_deletes=true&flush=true" >/dev/null
curl -s -XPOST "$ES_URL/$index/_disk_usage?run_expensive_tasks=true" | python3 -c '
import json, sys
data = json.load(sys.stdin)
usage = next(v for k, v in data.items() if not k.startswith("_shards"))
fields = usage["fields"]
# The store size may still count merged-away files; _recovery_source is a transient copy of
# excluded fields that the next merge after the retention lease drops (docs/benchmarks.md).
recovery = fields.pop("_recovery_source", {}).get("total_in_bytes", 0)
total = sum(f["total_in_bytes"] for f in fields.values())
for name, f in sorted(fields.items(), key=lambda kv: -kv[1]["total_in_bytes"]):
    size = f["total_in_bytes"]
    print(f"{name:40s} {size:>11,d}")
book = sum(f["total_in_bytes"] for n, f in fields.items() if n.startswith("_pgsearch") or n == "_timestamp")
print(f"transient _recovery_source {recovery:,d} bytes, not counted")
print(f"index {total:,d} bytes (sum of fields); bookkeeping fields {book:,d} bytes = {100 * book / total:.1f}% (their _source share: see docs/benchmarks.md)")
'
psql -q -c "DROP SCHEMA $schema CASCADE"
