# One image for the API, the worker and the Doctor agent (the command picks the role).
FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends openssh-client passwd procps && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY scripts ./scripts
COPY bin ./bin
RUN chmod -R go-w /app/scripts
USER node
EXPOSE 8080
CMD ["npx", "tsx", "src/server.ts"]
