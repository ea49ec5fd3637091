// Readers for untrusted JSON: admission requests, manifests on disk, API objects. They never throw;
// a missing or mistyped field reads as undefined, so the model decides "unknown" instead of crashing.

export type Json = Record<string, unknown>;

export function record(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

export function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * A value for a message, never throwing and never long: JSON text (strings quoted), cut at `max`
 * characters. For the reasons that quote what a request held instead of what was expected.
 */
export function preview(value: unknown, max = 80): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(value);
  } catch {
    return Array.isArray(value) ? 'an array' : typeof value;
  }
  if (s === undefined) return String(value);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export function integer(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : undefined;
}

export function bool(value: unknown): boolean {
  return value === true;
}

export function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const r = record(value);
  if (!r) return out;
  for (const [k, v] of Object.entries(r)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** Follows a path of keys through nested records. */
export function at(value: unknown, ...path: string[]): unknown {
  let cur: unknown = value;
  for (let i = 0; i < path.length; i++) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined;
    cur = (cur as Json)[path[i]!];
  }
  return cur;
}

/** Flattens parsed documents: arrays, Lists (anything with an items array) and single objects. */
export function flattenDocuments(docs: unknown): unknown[] {
  if (docs === null || docs === undefined) return [];
  if (Array.isArray(docs)) return docs.flatMap(flattenDocuments);
  const r = record(docs);
  if (r && Array.isArray(r.items) && (r.kind === undefined || (typeof r.kind === 'string' && r.kind.endsWith('List')))) {
    return r.items.flatMap(flattenDocuments);
  }
  return [docs];
}
