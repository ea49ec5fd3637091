// Reading manifests from disk for the offline commands: YAML or JSON, one or many documents.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

/** Every document in the file, parsed; throws an Error naming the file and the first problem. */
export function readDocuments(file: string): unknown[] {
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${file}: cannot read (${e.code ?? e.message})`);
  }
  const out: unknown[] = [];
  for (const doc of parseAllDocuments(content)) {
    if (doc.errors.length) throw new Error(`${file}: not valid YAML or JSON: ${doc.errors[0]!.message.split('\n')[0]}`);
    const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}
