# One image for the API, the worker and the Doctor agent (the command picks the role).
# Runs as uid/gid 1000 (the base image's "node" user), numeric so that Kubernetes can check runAsNonRoot,
# and needs no writable path but /tmp: the Helm chart runs it with a read-only root file system.
FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends openssh-client passwd procps && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY scripts ./scripts
COPY bin ./bin
# The application and the allow-listed scripts stay root-owned: the processes can read them, not change them.
RUN chmod -R go-w /app/scripts
USER 1000:1000
EXPOSE 8080
# node --import tsx rather than npx: npx writes to the npm cache under $HOME.
CMD ["node", "--import", "tsx", "src/server.ts"]
