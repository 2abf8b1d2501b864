#!/usr/bin/env bash
# The main job end to end: starts the local stack, loads the sample bookstore database, syncs it
# into Elasticsearch with pgsearch, and searches the result.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
bash scripts/stack.sh up
eval "$(bash scripts/stack.sh env)"
# pgsearch runs on Node 22 or later: the machine's node, or Node 24 LTS from PyPI where it is older.
pgsearch() { bash scripts/run-ts.sh src/cli/main.ts "$@"; }

echo "== loading the sample database (schema bookstore: 200 authors, 10,000 books)"
psql -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -f examples/bookstore.sql

echo "== what would be synced"
pgsearch tables --config examples/demo.yml

echo "== sync"
pgsearch sync --config examples/demo.yml

echo "== search: books titled 'indexing', cheapest first"
curl -s "$ES_URL/search-bookstore/_search?size=3&filter_path=hits.total,hits.hits._id,hits.hits._source.bookstore_books_title,hits.hits._source.bookstore_books_price" \
  -H 'content-type: application/json' \
  -d '{"query":{"match":{"bookstore_books_title":"indexing"}},"sort":[{"bookstore_books_price":"asc"}]}'
echo
