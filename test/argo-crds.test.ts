// Argo's CRDs come from its Go module at the version a test asks for: …/v3 for 3.x, …/v4 for 4.x.
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { argoCrdFiles, argoModule, argoModuleDir, argoModulePath, argoModuleVersion } from './cluster/crds.ts';

describe('the Argo module of a version', () => {
  it('each major version is its own module path; the default stays v3.7.18', () => {
    expect(argoModulePath('3.7.18')).toBe('github.com/argoproj/argo-workflows/v3');
    expect(argoModulePath('v4.0.5')).toBe('github.com/argoproj/argo-workflows/v4');
    expect(argoModule).toBe('github.com/argoproj/argo-workflows/v3');
    expect(argoModuleVersion('4.0.5')).toBe('v4.0.5');
    expect(() => argoModuleVersion('latest')).toThrow('Argo version "latest" is not a release like 3.7.18 or 4.0.5');
  });

  it('downloads (or finds) v3.7.18 by default and v4.0.5 on request, each with the same eight CRDs', async () => {
    const v3 = await argoModuleDir();
    const v4 = await argoModuleDir('4.0.5');
    expect(v3).toMatch(/argo-workflows\/v3@v3\.7\.18$/);
    expect(v4).toMatch(/argo-workflows\/v4@v4\.0\.5$/);
    for (const variant of ['full', 'minimal'] as const) {
      const names = (dir: string) => argoCrdFiles(dir, variant).map((f) => basename(f));
      expect(names(v4)).toEqual(names(v3));
      expect(names(v4)).toContain('argoproj.io_workflows.yaml');
      expect(names(v4)).toHaveLength(8);
    }
  }, 120_000);
});
