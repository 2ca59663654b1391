# syntax=docker/dockerfile:1
#
# interventions-bff — multi-stage image.
#   build:   full dependency tree, compiles TypeScript into dist/
#   runtime: production dependencies + dist/ only, runs as the non-root `node` user (uid 1000)
#
# The Node 24 LTS line ("Krypton", supported to 2028-04-30) on Debian bookworm slim; CI tests on
# Node 24.22.3. Digest NOT pinned yet: Docker Hub cannot be reached from the machine this was
# written on, so no digest could be read, and none is made up here. For reproducible release
# builds, read it where the registry is reachable and pin it:
#   docker buildx imagetools inspect node:24-bookworm-slim   # -> Digest: sha256:...
#   ARG NODE_IMAGE=node:24-bookworm-slim@sha256:<that digest>
ARG NODE_IMAGE=node:24-bookworm-slim

############################
# Build stage
############################
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# No telemetry / native rebuilds at install time: the only install scripts in the tree are
# @scarf/scarf (analytics ping) and @parcel/watcher (dev-only), neither is needed.
ENV SCARF_ANALYTICS=false \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig*.json nest-cli.json ./
COPY src ./src
RUN npm run build

############################
# Production dependencies
############################
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
ENV SCARF_ANALYTICS=false \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

############################
# Runtime stage
############################
FROM ${NODE_IMAGE} AS runtime
# V8 heap: the young generation's semi-spaces at 16 MB and the old generation at 128 MB, the same
# flags as `npm start`. Without them Node 24 sizes the heap from the memory it sees: ~400 MB RSS
# under load on a large host, and in a 320 MiB container a 256 MB old generation (more than the
# container holds next to the rest of the process) with 1 MB semi-spaces (more CPU per request).
# Measured in docs/performance.md ("Node 24 and memory"); the k8s memory request/limit follow from
# them. NODE_OPTIONS, so a deployment can override it without changing the command.
ENV NODE_ENV=production \
    PORT=3000 \
    HOST=0.0.0.0 \
    NODE_OPTIONS="--max-semi-space-size=16 --max-old-space-size=128"
WORKDIR /app
# Files stay root-owned (read-only for the `node` user): nothing is written at runtime
# (logs go to stdout, no cache/tmp files), so the container runs with a read-only root
# filesystem (docker `read_only: true`, k8s `readOnlyRootFilesystem: true`).
COPY package.json package-lock.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist

USER node
EXPOSE 3000

# slim has no curl/wget: probe liveness with Node's global fetch (Node >= 18).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.MANAGEMENT_PORT||process.env.PORT||3000)+'/health/live',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# Exec form: node is PID 1 and receives SIGTERM directly (graceful shutdown, SHUTDOWN_GRACE_MS).
CMD ["node", "dist/main.js"]
