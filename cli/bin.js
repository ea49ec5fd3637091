#!/usr/bin/env node
// Plain JavaScript so that an old Node can still load it and say what it needs; the CLI is TypeScript
// that Node 26 runs directly.
const required = 26;
const major = Number(process.versions.node.split('.')[0]);
if (major < required) {
  process.stderr.write(
    `argo-daemon-guard needs Node ${required} or newer (this is ${process.version}). ` +
      'Run it through npm (`npm exec argo-daemon-guard -- ...`), which uses the Node pinned in package.json, or use the container image.\n',
  );
  process.exit(2);
}
await import('./main.ts');
