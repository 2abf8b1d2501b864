# The connector service, laid out like Elastic's image: the configuration is /config/config.yml and
# `/app/bin/elastic-ingest -c /config/config.yml` works as in Elastic's documentation.
FROM node:24.19.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:24.19.0-bookworm-slim
# tini as PID 1: forwards SIGTERM to node and reaps children (what `docker run --init` does).
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY package.json LICENSE ./
# The image's node user (uid 1000), by number so Kubernetes' runAsNonRoot can check it.
USER 1000:1000
VOLUME /config
# Metrics and health on all interfaces inside the container (--metrics-port 9464 to enable).
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=16", "bin/pgsearch.js"]
CMD ["serve", "-c", "/config/config.yml", "--metrics-host", "0.0.0.0", "--metrics-port", "9464"]
