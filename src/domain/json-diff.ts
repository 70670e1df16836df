// Structural comparison of JSON values: canonical text (equal values, equal text) and the changed leaf
// paths between two values. Pure; shared by the rules API (versions, idempotent PUT) and the CLI (plans).

export interface JsonChange {
  path: string;
  kind: 'added' | 'removed' | 'changed';
  before?: unknown;
  after?: unknown;
}

import { isPlainObject } from './objects.js';

export { isPlainObject };

/** JSON text with sorted keys: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    isPlainObject(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v,
  );
}

/** Changed leaf paths between two JSON values (dotted paths, array indexes as segments). */
export function diffJson(before: unknown, after: unknown, path = '', out: JsonChange[] = []): JsonChange[] {
  if (canonicalJson(before) === canonicalJson(after)) return out;
  const at = (key: string | number) => (path ? `${path}.${key}` : String(key));
  if (isPlainObject(before) && isPlainObject(after)) {
    for (const key of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) diffJson(before[key], after[key], at(key), out);
  } else if (Array.isArray(before) && Array.isArray(after)) {
    for (let i = 0; i < Math.max(before.length, after.length); i++) diffJson(before[i], after[i], at(i), out);
  } else if (before === undefined) {
    out.push({ path: path || '(root)', kind: 'added', after });
  } else if (after === undefined) {
    out.push({ path: path || '(root)', kind: 'removed', before });
  } else {
    out.push({ path: path || '(root)', kind: 'changed', before, after });
  }
  return out;
}
