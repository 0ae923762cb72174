#!/usr/bin/env bash
# Builds Helm from the Go module proxy into the cache, once. test/helm.test.ts runs
# `helm lint --strict` and `helm template` on deploy/helm/pushflow with the binary it finds:
# on PATH, at PUSHFLOW_HELM_BIN, or where this script puts it. The version is pinned; Helm's
# Makefile stamps it into the binary with -ldflags, and so do we, so `helm version` names it.
# Its Makefile also stamps the Kubernetes version that `helm template` and `helm lint`
# assume (the client-go minor it was built with, plus one to the major, as Helm does);
# without it they assume Kubernetes 1.20 and the lint's deprecation check misses newer
# removals.
set -euo pipefail
version=${HELM_VERSION:-v3.22.0}
cache=${PUSHFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pushflow}
out="$cache/bin/helm"
if [ -x "$out" ] && "$out" version --template '{{.Version}}' 2>/dev/null | grep -qx "$version"; then
  echo "$out"; exit 0
fi
command -v go >/dev/null || { echo "install-helm: Go is needed to build Helm (apt-get install golang, or put a helm binary on PATH)" >&2; exit 1; }
mkdir -p "$cache/bin"
echo "install-helm: building Helm $version (a few minutes the first time)" >&2
# Helm v3.22 needs Go 1.26 (its go.mod says so). Distribution Go packages set
# GOTOOLCHAIN=local; `auto` lets an older Go (1.21+) fetch the toolchain it needs from the
# Go module proxy instead of refusing. A GOTOOLCHAIN set in the environment wins.
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
dir=$(go mod download -json "helm.sh/helm/v3@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$dir" ] || { echo "install-helm: go mod download gave no directory" >&2; exit 1; }
client_go=$(sed -n 's/^[[:space:]]*k8s\.io\/client-go v\([0-9]*\)\.\([0-9]*\)\..*/\1 \2/p' "$dir/go.mod")
[ -n "$client_go" ] || { echo "install-helm: no k8s.io/client-go in Helm's go.mod" >&2; exit 1; }
read -r k8s_major_minus_one k8s_minor <<<"$client_go"
k8s_major=$((k8s_major_minus_one + 1))
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version -X helm.sh/helm/v3/internal/version.metadata="
for pkg in pkg/lint/rules pkg/chartutil; do
  ldflags+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=$k8s_major -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$k8s_minor"
done
GOBIN="$cache/bin" GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" \
  "helm.sh/helm/v3/cmd/helm@$version"
echo "$out"
