# The connector service, laid out like Elastic's image: the configuration is /config/config.yml.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY package.json ./
USER node
VOLUME /config
ENTRYPOINT ["node", "bin/pgsearch.js"]
CMD ["serve", "-c", "/config/config.yml"]
