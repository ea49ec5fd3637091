# One image with every entry point: `webhook`, `reaper`, `uninstall-webhooks` (and `lint`, `explain`).
#   docker build -t argo-daemon-guard .
#   docker run --rm argo-daemon-guard --help
# Node runs the TypeScript sources directly (type stripping): there is no compile step, only a
# typecheck in the build stage. Not built on the project's CI machines (they have no Docker engine);
# hack/kind-e2e.sh builds and uses it.

# Must be the major version package.json pins (devDependencies.node, engines.node); a unit test checks.
ARG NODE_MAJOR=26

# ---- build: every dependency, typecheck -----------------------------------------------------------
FROM node:${NODE_MAJOR}-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Dev dependencies include the pinned `node` package, whose install script fetches that Node build.
RUN npm ci --no-audit --no-fund
# Everything the typecheck covers (tests, benchmarks, scripts): .dockerignore keeps out only what it does not.
COPY . .
RUN npm run typecheck
# What the image ships: the sources the entry points load, without tests and test fixtures.
RUN mkdir -p /out && cp -r package.json cli core runtime webhook reaper /out/ \
 && find /out \( -name '*.test.ts' -o -name 'test-support.ts' -o -name fixtures \) -prune -exec rm -rf {} + \
 && ! grep -rlE "from '(\.\./)+test/" /out --include='*.ts'

# ---- production dependencies only -----------------------------------------------------------------
FROM node:${NODE_MAJOR}-slim AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: no production dependency needs one (the `node` package is a dev dependency).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime ------------------------------------------------------------------------------------
FROM node:${NODE_MAJOR}-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps /src/node_modules ./node_modules
COPY --from=build /out ./
# The node image's unprivileged user, by number so that runAsNonRoot can verify it.
USER 1000:1000
# Exec form: no shell is involved at run time (the chart's hook Job runs the CLI the same way).
ENTRYPOINT ["node", "cli/bin.js"]
CMD ["--help"]
