#!/usr/bin/env bash
# Installs schemathesis (property-based fuzzing from an OpenAPI document) from PyPI into
# a virtualenv in the cache, once. test/fuzz.test.ts runs it against the gateway's
# /openapi.json. Prints the path of the `st` binary.
# The pins matter: schemathesis' CLI flags and checks change between releases, and so
# does what hypothesis generates; scripts/schemathesis-requirements.txt pins every package.
set -euo pipefail
requirements="$(cd "$(dirname "$0")" && pwd)/schemathesis-requirements.txt"
version=$(sha256sum "$requirements" | cut -c1-16)
cache=${PUSHFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pushflow}
venv="$cache/schemathesis"
out="$venv/bin/st"
if [ -x "$out" ] && [ "$(cat "$venv/.pushflow-version" 2>/dev/null)" = "$version" ]; then
  echo "$out"; exit 0
fi
python=$(command -v python3 || true)
[ -n "$python" ] || { echo "install-schemathesis: python3 (3.9 or newer, with venv) is needed (apt-get install python3-venv)" >&2; exit 1; }
"$python" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 9))' 2>/dev/null \
  || { echo "install-schemathesis: $python is older than 3.9 or lacks venv/ensurepip (apt-get install python3-venv)" >&2; exit 1; }
echo "install-schemathesis: installing schemathesis ($(grep -o '^schemathesis==.*' "$requirements")) into $venv" >&2
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --no-deps -r "$requirements" >&2
"$out" --version >/dev/null
echo "$version" > "$venv/.pushflow-version"
echo "$out"
