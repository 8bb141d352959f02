# syntax=docker/dockerfile:1
# Build stage: install from the lockfile, generate the Prisma client, compile, drop dev dependencies.
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json prisma.config.ts ./
COPY prisma ./prisma
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: compiled code and production dependencies only, as the unprivileged `node` user.
FROM node:24.21.0-bookworm-slim
# A bounded old space keeps RSS near the live heap (~90 MB after GC) instead of letting garbage pile up;
# two glibc malloc arenas instead of one per thread save ~35 MB of RSS (measured at ready).
ENV NODE_ENV=production PORT=3000 HOST=0.0.0.0 NODE_OPTIONS="--max-old-space-size=192" MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/prisma ./prisma
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# ROLE=api|worker|all. The worker image runs `node dist/src/worker.js` (see docker-compose.yml).
CMD ["node", "dist/src/main.js"]
