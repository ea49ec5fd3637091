// What can be checked of the container image and the kind script without Docker: the Dockerfile
// builds on the Node major the project pins, ships production dependencies only, runs as non-root
// with an exec-form entry point (no shell at run time); the build it runs (`npm run build`) compiles
// only the five product folders, loads no test code, and gives a CLI that answers as the sources do;
// the kind script is valid bash. Building the image and running the script need Docker (not here).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileProduct } from '../../scripts/compile.ts';
import { repoRoot } from '../../scripts/generate-chart-files.ts';

const run = promisify(execFile);
const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { devDependencies: Record<string, string>; engines: { node: string } };

/** The instructions of each stage, comments and continuation lines joined. */
function stages(): { from: string; lines: string[] }[] {
  const out: { from: string; lines: string[] }[] = [];
  const logical = dockerfile.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const line of logical) {
    if (/^FROM\s/i.test(line)) out.push({ from: line, lines: [] });
    else out.at(-1)?.lines.push(line);
  }
  return out;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

describe('Dockerfile', () => {
  it('builds on the Node major package.json pins', () => {
    const major = /^ARG NODE_MAJOR=(\d+)$/m.exec(dockerfile)?.[1];
    expect(major).toBeDefined();
    expect(pkg.devDependencies.node).toMatch(new RegExp(`^\\^?${major}\\.`));
    expect(pkg.engines.node).toContain(`>=${major}`);
    for (const s of stages()) expect(s.from).toMatch(/^FROM node:\$\{NODE_MAJOR\}-slim\b/);
  });

  it('typechecks and compiles with dev dependencies in the build stage and ships production dependencies only', () => {
    const [build, deps, final] = stages();
    expect(build!.lines).toContain('RUN npm ci --no-audit --no-fund');
    expect(build!.lines).toContain('RUN npm run typecheck');
    expect(build!.lines).toContain('RUN npm run build');
    expect(build!.lines).toContain('RUN mkdir -p /out && cp -r package.json dist /out/');
    expect(deps!.lines).toContain('RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund');
    expect(final!.lines.filter((l) => l.startsWith('COPY'))).toEqual(['COPY --from=prod-deps /src/node_modules ./node_modules', 'COPY --from=build /out ./']);
  });

  it('the build stage typechecks everything `npm run typecheck` checks (.dockerignore keeps none of it out)', () => {
    const build = stages()[0]!.lines;
    expect(build.indexOf('COPY . .')).toBeGreaterThan(build.indexOf('RUN npm ci --no-audit --no-fund'));
    expect(build.indexOf('COPY . .')).toBeLessThan(build.indexOf('RUN npm run typecheck'));
    const tsconfig = JSON.parse(readFileSync(join(repoRoot, 'tsconfig.json'), 'utf8')) as { include: string[] };
    const ignored = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const entry of [...tsconfig.include, 'package.json', 'package-lock.json', 'tsconfig.json']) {
      expect(ignored.filter((p) => p === entry || p === `${entry}/**` || p === '**' || p === '*'), `.dockerignore keeps ${entry} out`).toEqual([]);
    }
  });

  it('runs as a numeric non-root user with an exec-form entry point and no RUN in the final stage', () => {
    const final = stages().at(-1)!;
    expect(final.lines).toContain('USER 1000:1000');
    expect(final.lines).toContain('ENTRYPOINT ["node", "dist/cli/bin.js"]');
    expect(final.lines.filter((l) => /^(RUN|SHELL)\b/.test(l))).toEqual([]);
    expect(final.lines.filter((l) => /^(ENTRYPOINT|CMD)\s+[^[]/.test(l)), 'shell form would need /bin/sh').toEqual([]);
  });

  it('the shipped sources load no test code (tests, fixtures and test-support are left out of the image)', () => {
    const shipped = ['cli', 'core', 'runtime', 'webhook', 'reaper']
      .flatMap((d) => files(join(repoRoot, d)))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.includes('/fixtures/') && !f.endsWith('test-support.ts'));
    const offenders = shipped.filter((f) => /from '(\.\.?\/)+(\.\.\/)*(test\/|.*fixtures\/|.*test-support)/.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => relative(repoRoot, f))).toEqual([]);
  });
});

describe('the build the image runs (npm run build)', () => {
  const outDir = join(repoRoot, '.cache', `build-test-${process.pid}`);
  const built = (...p: string[]) => join(outDir, ...p);
  beforeAll(() => compileProduct(outDir), 120_000);
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it('compiles the five product folders and nothing else: no tests, fixtures or test support, no .ts left to load', () => {
    expect(readdirSync(outDir).sort()).toEqual(['cli', 'core', 'reaper', 'runtime', 'webhook']);
    const all = files(outDir).map((f) => relative(outDir, f));
    expect(all.filter((f) => !f.endsWith('.js'))).toEqual([]);
    expect(all.filter((f) => /\.test\.js$|\/fixtures\/|test-support/.test(f))).toEqual([]);
    expect(all).toContain(join('cli', 'bin.js'));
    const tsSpecifiers = all.filter((f) => /(from |import\()'\.{1,2}\/[^']*\.ts'/.test(readFileSync(built(f), 'utf8')));
    expect(tsSpecifiers).toEqual([]);
  });

  it('the compiled CLI answers as the sources do (exit code and output of lint on the seeds, and --help)', async () => {
    const cli = async (bin: string, args: string[]) => {
      try {
        const r = await run(process.execPath, [bin, ...args], { cwd: repoRoot });
        return { code: 0, out: r.stdout + r.stderr };
      } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string };
        return { code: e.code, out: e.stdout + e.stderr };
      }
    };
    const seeds = readdirSync(join(repoRoot, 'test', 'fixtures', 'seeds')).map((f) => join('test', 'fixtures', 'seeds', f));
    for (const args of [['--help'], ['lint', ...seeds], ['lint', '--json', ...seeds], ['explain'], ['no-such-command']]) {
      const fromSources = await cli(join(repoRoot, 'cli', 'bin.js'), args);
      const fromBuild = await cli(built('cli', 'bin.js'), args);
      expect(fromBuild, args.join(' ')).toEqual(fromSources);
    }
    // The seeds give a finding (not an empty run that would match trivially).
    expect((await cli(built('cli', 'bin.js'), ['lint', ...seeds])).out).toContain('warn');
  });
});

describe('hack/kind-e2e.sh', () => {
  it('is valid bash (`bash -n`) and uses the Argo version the harness pins', async () => {
    const script = join(repoRoot, 'hack', 'kind-e2e.sh');
    await run('bash', ['-n', script]);
    const { versions } = await import('../cluster/binaries.ts');
    expect(readFileSync(script, 'utf8')).toContain(`ARGO_VERSION="\${ARGO_VERSION:-${versions.argo}}"`);
  });
});
