#!/usr/bin/env bash
# Builds Centrifugo from the Go module proxy into the cache, once. `make bench` runs its
# throughput and latency scenarios against it too (a peer comparison) when it finds the
# binary: on PATH, at PUSHFLOW_CENTRIFUGO_BIN, or where this script puts it. The version
# is pinned; Centrifugo's release tooling stamps it into the binary with -ldflags, and so
# do we, so that `centrifugo version` (and the benchmark's report) names it.
set -euo pipefail
version=${CENTRIFUGO_VERSION:-v6.9.1}
cache=${PUSHFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pushflow}
out="$cache/bin/centrifugo"
if [ -x "$out" ] && "$out" version 2>/dev/null | grep -q "Centrifugo v${version#v} "; then
  echo "$out"; exit 0
fi
command -v go >/dev/null || { echo "install-centrifugo: Go is needed to build Centrifugo (apt-get install golang, or put a centrifugo binary on PATH)" >&2; exit 1; }
mkdir -p "$cache/bin"
echo "install-centrifugo: building Centrifugo $version (a few minutes the first time)" >&2
# Centrifugo v6.9.1 needs Go 1.26 (its go.mod says so). Distribution Go packages set
# GOTOOLCHAIN=local; `auto` lets an older Go (1.21+) fetch the toolchain it needs from the
# Go module proxy instead of refusing. A GOTOOLCHAIN set in the environment wins.
GOTOOLCHAIN=${GOTOOLCHAIN:-auto} GOBIN="$cache/bin" GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install -trimpath \
  -ldflags "-s -w -X github.com/centrifugal/centrifugo/v6/internal/build.Version=${version#v}" \
  "github.com/centrifugal/centrifugo/v6@$version"
echo "$out"
