# PushFlow. `make dev` runs the three services here; `make up` runs the stack in Docker.
# Node goes through scripts/node.sh, which gives uWebSockets.js a new enough glibc on
# older Linux (Debian 12) by itself.
SHELL := /bin/bash
NODE := ./scripts/node.sh
TEST_FILES = $(shell find shared gateway dispatcher delivery cli test load -path '*/node_modules' -prune -o -path test/faults -prune -o -path test/cluster -prune -o -name '*.test.ts' -print 2>/dev/null | sort)
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

.PHONY: install mongo-standin schemathesis centrifugo helm dev up up-scale down logs test test-cluster-faults typecheck bench

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
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
# load/centrifugo.test.ts checks that it does: Centrifugo v6 is built once with Go from the
# Go module proxy into ~/.cache/pushflow (scripts/install-centrifugo.sh), unless on PATH.
centrifugo:
	@command -v centrifugo >/dev/null || [ -n "$$PUSHFLOW_CENTRIFUGO_BIN" ] || ./scripts/install-centrifugo.sh >/dev/null

# test/helm.test.ts lints and renders the Helm chart (deploy/helm/pushflow): Helm is built
# once with Go from the Go module proxy into ~/.cache/pushflow (scripts/install-helm.sh),
# unless on PATH or at PUSHFLOW_HELM_BIN.
helm:
	@command -v helm >/dev/null || [ -n "$$PUSHFLOW_HELM_BIN" ] || ./scripts/install-helm.sh >/dev/null

dev: node_modules mongo-standin
	$(NODE) --import tsx scripts/dev.ts

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

test: node_modules mongo-standin schemathesis centrifugo helm
	$(NODE) --import tsx --test --test-concurrency=2 $(TEST_FILES)
	$(NODE) --import tsx --test --test-concurrency=1 $(FAULT_TEST_FILES)
	$(NODE) --import tsx --test --test-concurrency=1 $(CLUSTER_TEST_FILES)
	PUSHFLOW_TEST_REDIS_CLUSTER=1 PUSHFLOW_FAULT_BURST=$(CLUSTER_FAULT_BURST) \
	  $(NODE) --import tsx --test --test-concurrency=1 $(CLUSTER_FAULT_TEST_FILES)

test-cluster-faults: node_modules mongo-standin
	PUSHFLOW_TEST_REDIS_CLUSTER=1 PUSHFLOW_FAULT_BURST=$(CLUSTER_FAULT_BURST) \
	  $(NODE) --import tsx --test --test-concurrency=1 $(CLUSTER_FAULT_TEST_FILES)

bench: node_modules mongo-standin centrifugo
	@$(NODE) --import tsx load/bench.ts
