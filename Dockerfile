# glibc base (the Temporal worker's native core and argon2 ship glibc binaries).
FROM node:20.20.2-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/build-workflow-bundle.ts ./scripts/
# Compiles src and writes dist/workflow-bundle.js: the worker loads that, it never bundles at start-up.
RUN npm run build

FROM node:20.20.2-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
USER node
EXPOSE 3000 8081
# The API by default; the worker service runs `node dist/worker.js` (with dist/workflow-bundle.js, the code the replay gate checked).
CMD ["node", "dist/api/server.js"]
