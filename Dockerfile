# steerd: an OpenAI-compatible llama.cpp server with per-request residual-stream steering.
#
#   CPU:   docker build -t steerd .
#   CUDA:  docker build -t steerd:cuda \
#            --build-arg RUNTIME_IMAGE=nvidia/cuda --build-arg RUNTIME_TAG=13.0.0-runtime-ubuntu24.04 .
#   Run:   docker run --init -p 8080:8080 -v "$PWD/models:/models:ro" steerd
#          (serves /models/model.gguf; add --gpus all for the CUDA image; more flags after the image name
#          replace the default command, e.g. ... steerd npm start -- --model /models/other.gguf --sae /models/sae)

# The Node image that builds the app and supplies Node and npm to the runtime stage.
ARG NODE_TAG=20-bookworm-slim
# The runtime base: Node's own image for CPU, or a CUDA runtime image (node-llama-cpp's CUDA build links
# CUDA 13's libcudart and libcublas).
ARG RUNTIME_IMAGE=node
ARG RUNTIME_TAG=20-bookworm-slim

FROM node:${NODE_TAG} AS builder
# git: the install script clones llama.cpp's headers from node-llama-cpp's bundle; python3, make, g++: node-gyp
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# node-llama-cpp ships prebuilt llama.cpp libraries; never fetch or compile another one during npm ci
ENV NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY native ./native
# npm ci runs the repository's install script, which builds the steerd addon for every llama.cpp variant
# (CPU, CUDA, Vulkan) node-llama-cpp installed; then drop the dev dependencies from what ships
RUN npm ci \
    && npm prune --omit=dev \
    && npm cache clean --force

FROM node:${NODE_TAG} AS node

FROM ${RUNTIME_IMAGE}:${RUNTIME_TAG} AS runtime
# The CUDA base has no Node: bring the builder's Node and npm (`npm start` is the entry point). On the Node
# base image this copies the same files over themselves.
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && useradd --system --create-home --uid 10001 steerd \
    && mkdir -p /models
WORKDIR /app
COPY --from=builder /app/node_modules ./node_modules
COPY --from=builder /app/build/variants ./build/variants
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY bin ./bin
USER steerd
ENV NODE_ENV=production
EXPOSE 8080
VOLUME ["/models"]
# retries rather than a start period: loading a large model takes minutes, and ten misses allow five
HEALTHCHECK --interval=30s --timeout=5s --retries=10 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:8080/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["npm", "start", "--", "--host", "0.0.0.0", "--model", "/models/model.gguf"]
