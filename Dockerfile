# syntax=docker/dockerfile:1
# Signet's image: the operator's TypeScript sources with their types stripped by Node itself
# (scripts/build.ts, no compiler needed), so the image ships the files the tests run, as plain
# JavaScript: running .ts directly would cost the operator about 27 MB of memory for Node's
# type-stripping transformer. Tests and test support stay out.
#
#   docker build -t signet:dev .
#   kind load docker-image signet:dev
#
# Without Docker or a registry, scripts/image/build.sh (`npm run image`) builds it with buildah on a
# base it makes locally from Node 24 and npm, passed as NODE_IMAGE; that base has no shell.

ARG NODE_IMAGE=node:24-slim

# Production dependencies only, installed from the lockfile. A builder may pass its npm configuration
# (registry, CA file, credentials) as the secret "npmrc"; without it the secret is not mounted and npm
# uses its defaults. Exec form, so that NODE_IMAGE needs no shell; only node_modules leaves this stage,
# so npm's cache stays behind with it.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc \
    ["npm", "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"]
# Dependencies ship tests of their own (zod's, pino's); the image carries no test code of anyone's.
COPY scripts/build.ts ./scripts/build.ts
RUN ["node", "scripts/build.ts", "--prune-tests", "node_modules"]

# The sources as JavaScript, in /dist with the same layout (operator/src/cli/main.js, ...).
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY scripts/build.ts ./scripts/build.ts
COPY operator/src ./operator/src
COPY webhooks/src ./webhooks/src
RUN ["node", "scripts/build.ts", "--out", "/dist"]

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /dist/operator ./operator
COPY --from=build /dist/webhooks ./webhooks
COPY package.json ./
# A numeric, non-root user: Kubernetes can verify runAsNonRoot without a passwd entry.
USER 65532:65532
EXPOSE 8080 9443
# Exec form: node is PID 1 and receives SIGTERM directly; no shell is involved.
ENTRYPOINT ["node", "/app/operator/src/cli/main.js"]
CMD ["run"]
