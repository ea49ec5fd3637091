// The README's reference tables are the code's: a rule, reason or command added in code shows up here.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { reasonsMarkdown } from '../core/leftover/reasons.ts';
import { ruleNames } from '../core/policy/schema.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README reference', () => {
  it('lists the reaper reasons exactly as core/leftover/reasons.ts defines them', () => {
    expect(readme).toContain(reasonsMarkdown().trim());
  });

  it('documents every policy rule', () => {
    for (const rule of ruleNames) expect(readme).toContain(`| \`${rule}\` |`);
  });

  it('names the same test command as .ci/run', () => {
    const ci = readFileSync(new URL('../.ci/run', import.meta.url), 'utf8');
    const command = /^(npm ci && npm test)$/m.exec(ci)?.[1];
    expect(command).toBeDefined();
    expect(readme).toContain(`\`\`\`sh\n${command}\n\`\`\``);
  });
});
