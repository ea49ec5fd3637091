// The compile `npm run build` runs (tsconfig.build.json), into any directory inside the repository (so
// the output finds node_modules and package.json's "type": "module"): what the image ships, for the
// test that checks it and for the bench, which measures the processes as the image runs them.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './generate-chart-files.ts';

/** Compiles the product into `outDir` (emptied first); resolves to the compiled CLI's entry point. */
export async function compileProduct(outDir: string): Promise<{ cliMain: string }> {
  rmSync(outDir, { recursive: true, force: true });
  await promisify(execFile)(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repoRoot, 'tsconfig.build.json'), '--outDir', outDir], { cwd: repoRoot });
  return { cliMain: join(outDir, 'cli', 'main.js') };
}
