# syntax=docker/dockerfile:1
# Signet's image: Node 24 runs the TypeScript sources directly (type stripping), so the image ships
# exactly the files the tests run, with no compile step and no source maps to keep in sync.
#
#   docker build -t signet:dev .
#   kind load docker-image signet:dev

ARG NODE_IMAGE=node:24-slim

# Production dependencies only, installed from the lockfile.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY operator/src ./operator/src
COPY webhooks/src ./webhooks/src
# A numeric, non-root user: Kubernetes can verify runAsNonRoot without a passwd entry.
USER 65532:65532
EXPOSE 8080 9443
# Exec form: node is PID 1 and receives SIGTERM directly; no shell is involved.
ENTRYPOINT ["node", "/app/operator/src/cli/main.ts"]
CMD ["run"]
