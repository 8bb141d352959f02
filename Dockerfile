# syntax=docker/dockerfile:1
# The one image of osm-onboarding: the API (dist/bundle/main.mjs), the worker (dist/bundle/worker.mjs), the
# migrations (dist/src/migrate.js) and compose's admin-token init (dist/src/admin-token.js). Build and tag it as
# deploy/README.md says; docker-compose.yml builds it once as osm-onboarding:local.
#
# Build stage: install from the lockfile, generate the Prisma client, compile, bundle the API and the worker
# (scripts/bundle.mjs: less source text held in each process's heap), drop dev dependencies.
# (`npm ci` here also installs the `node` devDependency, the Node that npm scripts use on a developer machine;
# it has the same version as this base image and is pruned with the other dev dependencies.)
# The repo is an npm workspace: the service (root) and the typed client its CLI runs on (packages/client) are
# installed and built; the Backstage module (packages/backstage-scaffolder-module) is not part of the image, only its
# manifest is copied so the lockfile's workspace list is complete.
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json prisma.config.ts ./
COPY packages/client/package.json ./packages/client/
COPY packages/backstage-scaffolder-module/package.json ./packages/backstage-scaffolder-module/
COPY prisma ./prisma
RUN npm ci --no-audit --no-fund --include-workspace-root --workspace @osm-onboarding/client
COPY tsconfig.json tsconfig.build.json ./
COPY packages/client ./packages/client
COPY src ./src
COPY scripts/bundle.mjs ./scripts/
RUN npm run build:service \
  && npm prune --omit=dev --no-audit --no-fund --include-workspace-root --workspace @osm-onboarding/client

# Runtime stage: compiled code and production dependencies only, as the unprivileged `node` user.
FROM node:24.21.0-bookworm-slim
# A bounded old space keeps RSS near the live heap (~90 MB after GC) instead of letting garbage pile up;
# two glibc malloc arenas instead of one per thread save ~35 MB of RSS (measured at ready). An 8 MB semi-space
# bounds the young generation, which otherwise grows to 64 MB semi-spaces under load: ~50 MB less RSS and, on
# the 2-core bench machine, ~5x less API CPU per request (docs/performance.md, round of 2026-12-04, Memory).
# The cap costs the progress tail (p99 71-122 ms with it, 45-52 without, in alternated runs), but without it the
# full bench's peaks were API 539 MB and worker 355 MB (docs/performance.md, afternoon round of 2026-12-04).
# One V8 platform thread (Node's default is 4) for the concurrent and parallel GC work: on the 2-core bench machine
# four GC threads preempted the main thread, Postgres and Redis; with one, the API's p99 at 500 requests/s fell from
# 36 to 15-18 ms and the progress p99 from 56-212 to 32-33 ms, at the same throughput and CPU per request; the
# API's peak RSS rose 10-30 MB (docs/performance.md, round of 2026-12-05). Set NODE_OPTIONS to override.
# (The processes also turn V8's Maglev tier off themselves: src/v8-flags.ts; NODE_OPTIONS cannot carry that flag.)
ENV NODE_ENV=production PORT=3000 HOST=0.0.0.0 \
  NODE_OPTIONS="--max-old-space-size=192 --max-semi-space-size=8 --v8-pool-size=1" \
  MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
# node_modules/@osm-onboarding/client links here (the CLI, dist/src/cli, runs on it).
COPY --from=build --chown=node:node /app/packages/client/package.json ./packages/client/
COPY --from=build --chown=node:node /app/packages/client/dist ./packages/client/dist
COPY --from=build --chown=node:node /app/prisma ./prisma
# Where compose's admin-token volume is mounted: a new named volume takes this directory's owner (node).
RUN mkdir -p /var/lib/osm-onboarding && chown node:node /var/lib/osm-onboarding
USER node
EXPOSE 3000 9464
# GET /healthz of this container's process: PORT for the API, WORKER_METRICS_PORT when ROLE=worker.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 CMD ["node", "dist/src/healthcheck.js"]
# ROLE=api|all runs dist/bundle/main.mjs; the worker runs `node dist/bundle/worker.mjs` with ROLE=worker.
CMD ["node", "dist/bundle/main.mjs"]
