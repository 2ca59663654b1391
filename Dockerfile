# syntax=docker/dockerfile:1
#
# interventions-bff — multi-stage image.
#   build:   full dependency tree, compiles TypeScript into dist/
#   runtime: production dependencies + dist/ only, runs as the non-root `node` user (uid 1000)
#
# Pinned to the Node 20 LTS line on Debian bookworm slim. For reproducible release builds,
# pin the digest as well (node:20.20-bookworm-slim@sha256:...).
ARG NODE_IMAGE=node:20.20-bookworm-slim

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
ENV NODE_ENV=production \
    PORT=3000 \
    HOST=0.0.0.0
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
