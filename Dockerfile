# One image with every entry point: `webhook`, `reaper`, `uninstall-webhooks` (and `lint`, `explain`).
#   docker build -t argo-daemon-guard .
#   docker run --rm argo-daemon-guard --help
# The image runs JavaScript compiled from the sources (`npm run build`: tsc with the same settings as
# the typecheck, types erased, import paths rewritten to .js). Node could run the .ts sources itself,
# but its type stripper stays loaded in every process: about 27 MB more RSS per webhook and reaper
# (README, Performance). Not built on the project's CI machines (they have no Docker engine);
# hack/kind-e2e.sh builds and uses it; the build itself is tested (test/chart/image.test.ts).

# Must be the major version package.json pins (devDependencies.node, engines.node); a unit test checks.
ARG NODE_MAJOR=26

# ---- build: every dependency, typecheck, compile ------------------------------------------------
FROM node:${NODE_MAJOR}-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Dev dependencies include the pinned `node` package, whose install script fetches that Node build.
RUN npm ci --no-audit --no-fund
# Everything the typecheck covers (tests, benchmarks, scripts): .dockerignore keeps out only what it does not.
COPY . .
RUN npm run typecheck
# What the image ships: the compiled entry points and what they load (tsconfig.build.json leaves tests
# and fixtures out), and package.json (ESM, the version).
RUN npm run build
RUN mkdir -p /out && cp -r package.json dist /out/

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
ENTRYPOINT ["node", "dist/cli/bin.js"]
CMD ["--help"]
