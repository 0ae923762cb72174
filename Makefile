# PushFlow. `make dev` runs the three services here; `make up` runs the stack in Docker.
# Node goes through scripts/node.sh, which runs Node 24 where the machine's Node is older
# than 22.18, and gives uWebSockets.js a new enough glibc on older Linux (Debian 12).
SHELL := /bin/bash
NODE := ./scripts/node.sh
# A test file ends when its tests have (--test-force-exit): a client a failed test left
# redialling a stopped Redis must not keep the run waiting forever. No test or hook may take
# over 10 minutes (the longest take 5): a hang fails with its name instead of timing out CI.
# The suite's stacks run the webhook relay at the priority of the thread that sends: test
# files run side by side, and at nice 19 the other files' busy processes starve it for
# seconds. dispatcher/test/dispatcher.test.ts checks the default priority; the bench measures it.
TEST_RUN = PUSHFLOW_WEBHOOK_NICE=0 $(NODE) --test --test-force-exit --test-timeout=600000
TEST_FILES = $(shell find shared gateway dispatcher delivery cli client server test load -path '*/node_modules' -prune -o -path test/faults -prune -o -path test/cluster -prune -o -name '*.test.ts' -print 2>/dev/null | sort)
# The fault tests each run a whole stack through a 10,000-notification burst: one at a time.
FAULT_TEST_FILES = $(shell find test/faults -name '*.test.ts' 2>/dev/null | sort)
# Each starts a six-process Redis Cluster (redis-server, redis-cli) and a stack on it: one at a time too.
CLUSTER_TEST_FILES = $(shell find test/cluster -name '*.test.ts' 2>/dev/null | sort)
# The fault suites again on a Redis Cluster with 8 partitions (PUSHFLOW_TEST_REDIS_CLUSTER),
# with a 3,000-notification burst to bound the time; redis-crash restarts a single Redis
# (test/cluster/failover.test.ts kills cluster masters instead). `make test-cluster-faults`
# runs only these.
CLUSTER_FAULT_TEST_FILES = $(filter-out test/faults/redis-crash.test.ts,$(FAULT_TEST_FILES))
CLUSTER_FAULT_BURST ?= 3000
# `make test-unit`: the TEST_FILES that name none of SERVER_STARTERS (grep, so new files sort themselves), run with every server stubbed out (scripts/without-servers.sh) so a wrong pick fails.
SERVER_STARTERS = redisServer|mongoServer|restartableRedis|redisCluster|startStack|startCliStack|startService|startClusterStack|faultStack|startScaleProxy|startNginx|launchBrowser|withTestNode|startTestNode|gatewayWithPeer|startGateway|startGatewayWithoutRedis|run-bench|runSchemathesis|findCentrifugo|findBinary|store-ceiling
UNIT_TEST_FILES = $(shell grep -LwE '$(SERVER_STARTERS)' $(TEST_FILES) </dev/null)

.PHONY: install mongo-standin schemathesis centrifugo helm node24 dev up up-scale down logs test test-cluster-faults typecheck lint bench

# npm runs on the Node that scripts/node.sh picks, so its engine checks see the Node that
# runs the code, not an older one on the machine (no EBADENGINE warnings). Where `npm` is not
# a link to its npm-cli.js (a wrapper script), it runs as it is.
NPM_CLI := $(shell readlink -f "$$(command -v npm)")
NPM = $(if $(filter %.js,$(NPM_CLI)),$(NODE) $(NPM_CLI),npm)

# npm speaks on stderr: `make bench > bench.json` must hold the bench's JSON alone.
node_modules: package.json package-lock.json
	@echo "npm ci (package.json or package-lock.json changed)" >&2
	@$(NPM) ci --no-audit --no-fund >&2
	@touch node_modules

install: node_modules

# Without MONGO_URL/TEST_MONGO_URL or a mongod on PATH, tests and `make dev` use FerretDB,
# built once with Go into ~/.cache/pushflow (scripts/install-ferretdb.sh says what is missing).
mongo-standin:
	@[ -n "$$MONGO_URL$$TEST_MONGO_URL" ] || command -v mongod >/dev/null || command -v ferretdb >/dev/null \
	  || ./scripts/install-ferretdb.sh >/dev/null

# The fuzz test (test/fuzz.test.ts) runs schemathesis, installed once from PyPI into a
# virtualenv in ~/.cache/pushflow (scripts/install-schemathesis.sh; needs python3-venv).
schemathesis:
	@[ -n "$$PUSHFLOW_SCHEMATHESIS_BIN" ] || ./scripts/install-schemathesis.sh >/dev/null

# `make bench` also runs throughput and latency against Centrifugo (a peer comparison), and
# load/centrifugo/centrifugo.test.ts checks that it does: Centrifugo v6 is built once with Go from the
# Go module proxy into ~/.cache/pushflow (scripts/install-centrifugo.sh), unless on PATH.
centrifugo:
	@command -v centrifugo >/dev/null || [ -n "$$PUSHFLOW_CENTRIFUGO_BIN" ] || ./scripts/install-centrifugo.sh >/dev/null

# test/helm.test.ts lints and renders the Helm chart (deploy/helm/pushflow): Helm is built
# once with Go from the Go module proxy into ~/.cache/pushflow (scripts/install-helm.sh),
# unless on PATH or at PUSHFLOW_HELM_BIN.
helm:
	@command -v helm >/dev/null || [ -n "$$PUSHFLOW_HELM_BIN" ] || ./scripts/install-helm.sh >/dev/null

dev: node_modules mongo-standin
	$(NODE) scripts/dev.ts

up:
	docker compose up -d --build --wait
	@echo "PushFlow is up:"
	@echo "  API            http://localhost:3000   (key: PUSHFLOW_API_KEYS; dev-only-api-key-change-me by default)"
	@echo "  API docs       http://localhost:3000/docs   (OpenAPI: http://localhost:3000/openapi.json)"
	@echo "  dashboard      http://localhost:3000/dashboard   (asks for the API key)"
	@echo "  demo client    http://localhost:8080/demo   (paste a connect token from POST /connect-tokens)"
	@echo "  WebSocket      ws://localhost:8080/ws?token=<connect token>"

# The scale profile (compose.yaml): two gateways, two dispatchers and three delivery nodes on
# a Redis Cluster, behind nginx. Naming `proxy` starts it and what it depends on only.
up-scale:
	docker compose --profile scale up -d --build --wait proxy
	@echo "PushFlow (scale profile) is up: 2 gateways, 2 dispatchers, 3 delivery nodes, Redis Cluster (3 masters + 3 replicas), 8 partitions"
	@echo "  API            http://localhost:3100   (nginx to gateway-1, gateway-2; key: PUSHFLOW_API_KEYS, dev-only-api-key-change-me by default)"
	@echo "  API docs       http://localhost:3100/docs"
	@echo "  dashboard      http://localhost:3100/dashboard"
	@echo "  demo client    http://localhost:8180/demo   (nginx to delivery-1..3)"
	@echo "  WebSocket      ws://localhost:8180/ws?token=<connect token>"
	@echo "  stop it with   docker compose --profile scale down"

down:
	docker compose down

logs:
	docker compose logs -f

# Two projects: Node's code, and the pages' scripts (the DOM's types, no Node's).
typecheck: node_modules
	npx tsc -p tsconfig.json --noEmit
	npx tsc -p tsconfig.pages.json --noEmit

# Biome (biome.json): the lint rules and the formatter; fails on any warning. `npx biome check --write .` fixes what it safely can.
lint: node_modules
	npm run lint

test: node_modules mongo-standin schemathesis centrifugo helm
	$(TEST_RUN) --test-concurrency=2 $(TEST_FILES)
	$(TEST_RUN) --test-concurrency=1 $(FAULT_TEST_FILES)
	$(TEST_RUN) --test-concurrency=1 $(CLUSTER_TEST_FILES)
	PUSHFLOW_TEST_REDIS_CLUSTER=1 PUSHFLOW_FAULT_BURST=$(CLUSTER_FAULT_BURST) \
	  $(TEST_RUN) --test-concurrency=1 $(CLUSTER_FAULT_TEST_FILES)

test-cluster-faults: node_modules mongo-standin
	PUSHFLOW_TEST_REDIS_CLUSTER=1 PUSHFLOW_FAULT_BURST=$(CLUSTER_FAULT_BURST) \
	  $(TEST_RUN) --test-concurrency=1 $(CLUSTER_FAULT_TEST_FILES)

.PHONY: test-unit
test-unit: node_modules
	./scripts/without-servers.sh $(TEST_RUN) --test-concurrency=2 $(UNIT_TEST_FILES)

# The images run Node 24 LTS (Dockerfile), so the bench measures the services on it whatever
# Node this machine has (scripts/node.sh fetches it from the npm registry, where it is a package).
node24:
	@$(NODE) --node24

bench: node_modules mongo-standin centrifugo
	@PUSHFLOW_REAL_NODE=$$($(NODE) --node24) $(NODE) load/bench.ts $(ARGS)
