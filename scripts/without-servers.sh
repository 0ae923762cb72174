#!/usr/bin/env bash
# Runs a command where no test server can start: `make test-unit` runs its files through it.
# Redis, MongoDB/FerretDB, nginx, Chromium, Centrifugo, helm, Go and Python are stubs that
# fail and note their call, Docker does not answer and no server URL is set, so a unit test
# that starts one fails here, even on a machine that has them all.
#
#   scripts/without-servers.sh command [args...]
set -euo pipefail

stubs=$(mktemp -d "${TMPDIR:-/tmp}/pushflow-no-servers-XXXXXX")
trap 'rm -rf "$stubs"' EXIT
log="$stubs/started.log"
for name in redis-server redis-cli mongod mongosh ferretdb nginx chromium chromium-browser \
  centrifugo helm schemathesis st go python python3; do
  cat > "$stubs/$name" <<STUB
#!/bin/sh
from=\$(tr '\\0' '\\n' < /proc/\$PPID/cmdline 2>/dev/null | grep -m1 '\\.ts\$')
echo "$name \$* (from \${from:-process \$PPID})" >> "$log"
echo "scripts/without-servers.sh: a unit test ran $name, which make test-unit does not allow" >&2
exit 127
STUB
  chmod +x "$stubs/$name"
done

unset REDIS_URL TEST_REDIS_URL MONGO_URL TEST_MONGO_URL PUSHFLOW_TEST_REDIS_CLUSTER
export PATH="$stubs:$PATH"
export PUSHFLOW_TEST_NO_DOCKER=1 DOCKER_HOST="unix://$stubs/no-docker.sock"
export PUSHFLOW_FERRETDB_BIN="$stubs/ferretdb" PUSHFLOW_NGINX_BIN="$stubs/nginx" \
  PUSHFLOW_CHROMIUM_BIN="$stubs/chromium" PUSHFLOW_CENTRIFUGO_BIN="$stubs/centrifugo" \
  PUSHFLOW_HELM_BIN="$stubs/helm" PUSHFLOW_SCHEMATHESIS_BIN="$stubs/st"

status=0
"$@" || status=$?
if [ -s "$log" ]; then
  echo "make test-unit: these tests need a server; name what starts it in the Makefile's SERVER_STARTERS:" >&2
  sed 's/^/  ran: /' "$log" >&2
  exit 1
fi
exit "$status"
