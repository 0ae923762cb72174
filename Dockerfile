# One image recipe for the three services; the build arg SERVICE picks which one:
#   docker build --build-arg SERVICE=gateway -t pushflow-gateway .
# compose.yaml builds gateway, dispatcher and delivery from this file.
#
# Base: Node 24 LTS on Debian 13 (trixie). uWebSockets.js ships glibc binaries that need
# glibc >= 2.38, which trixie has, so node runs directly (no scripts/node.sh shim needed).
# Never switch to alpine: there is no musl build of uWebSockets.js.

# ---- deps: production node_modules for every workspace --------------------------------
# Only the manifests are copied first, so this layer (the slow one) is rebuilt only when
# dependencies change, and it is the same layer for all three services.
FROM node:24-trixie-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY gateway/package.json gateway/
COPY dispatcher/package.json dispatcher/
COPY delivery/package.json delivery/
# The CLI is a workspace too: npm ci needs every workspace's manifest, though no image runs it.
COPY cli/package.json cli/
COPY server/package.json server/
# So is the client library (@pushflow/client); the delivery node serves it to its demo page.
COPY client/package.json client/
# TypeScript runs from source, no build step: Node 24 strips the types as it loads each file.
# --omit=dev drops the test tooling.
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force
# uWebSockets.js bundles a binary for every OS, CPU and Node ABI (~110 MB); keep the one
# this image's node loads and fail the build if it is missing.
RUN keep="uws_$(node -p 'process.platform + "_" + process.arch + "_" + process.versions.modules').node" \
 && test -f "node_modules/uWebSockets.js/$keep" \
 && find node_modules/uWebSockets.js -maxdepth 1 -name 'uws_*.node' ! -name "$keep" -delete

# ---- runtime: one service ---------------------------------------------------------------
FROM node:24-trixie-slim AS runtime
ARG SERVICE
RUN case "$SERVICE" in gateway|dispatcher|delivery) ;; \
      *) echo "build arg SERVICE must be gateway, dispatcher or delivery (got '$SERVICE')" >&2; exit 1 ;; \
    esac
ENV NODE_ENV=production
# An image may run anywhere, so it refuses development secrets (values containing
# "dev-only", the repository's defaults) unless told otherwise: compose.yaml sets
# PUSHFLOW_ENV=development for `make up` on a laptop.
ENV PUSHFLOW_ENV=production
WORKDIR /app
# Manifests and node_modules from deps (node_modules/@pushflow/* are workspace symlinks;
# the ones pointing at services not copied below simply dangle, unused).
COPY --from=deps /app/ ./
COPY shared/src shared/src
# The client library's source and its bundler: the delivery node builds the library for its
# demo page when it starts (delivery/src/demo-page.ts). A few KB; the other services ignore it.
COPY client/src client/src
COPY client/scripts client/scripts
COPY scripts/node.sh scripts/node.sh
COPY ${SERVICE}/src ${SERVICE}/src
# Files stay owned by root: the service, running as the unprivileged `node` user of the
# base image, can read its code but not change it.
USER node
WORKDIR /app/${SERVICE}
# Exec form, node directly (not `npm start`, not a shell): node is the process that gets
# SIGTERM and runs the graceful shutdown, and nothing sits in between swallowing signals.
# As PID 1, node does not reap zombies nor get default signal dispositions, so compose sets
# `init: true` (Docker's tini as PID 1, forwarding signals); with plain `docker run`, pass
# `--init`. The services register their own SIGTERM handler, so even without an init they
# stop cleanly on `docker stop`.
# No HEALTHCHECK here: the port differs per service, so compose.yaml defines it.
# No secrets in the image: every setting comes from the environment at run time, a secret
# from <VAR>_FILE (e.g. a mounted /run/secrets/...) if it should not sit in the environment.
CMD ["node", "src/main.ts"]
