/**
 * Tiny dotted-path getter used by rule conditions, templates and extraction.
 *
 * Supported syntax: `a.b.c`, `a.b[0].c`, `a[0][1]`, and quoted keys for names that are not plain
 * identifiers: `alert.details["kube.namespace"]`. Nothing else: no wildcards, filters or expressions.
 * Only own properties are read, so `__proto__`, `constructor` etc. never resolve to prototype members.
 *
 * Pure: no I/O, safe inside Temporal workflow code.
 */

export type PathSegment = string | number;

const PLAIN_KEY = /^[A-Za-z_$][\w$-]*/;
const INDEX = /^\[(\d{1,9})\]/;
const QUOTED = /^\[(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\]/;
const MAX_PATH_LENGTH = 512;
const CACHE_LIMIT = 2000;

const cache = new Map<string, readonly PathSegment[] | null>();

function unescapeQuoted(raw: string): string {
  return raw.replace(/\\(.)/g, '$1');
}

function parseUncached(path: string): PathSegment[] | null {
  if (path.length === 0 || path.length > MAX_PATH_LENGTH) return null;
  const segments: PathSegment[] = [];
  let rest = path;
  let expectKey = true;
  while (rest.length > 0) {
    if (expectKey) {
      const key = PLAIN_KEY.exec(rest);
      if (key) {
        segments.push(key[0]);
        rest = rest.slice(key[0].length);
        expectKey = false;
        continue;
      }
      // A path may start with a bracket (`[0].a`) but a dot must be followed by a key.
      if (segments.length > 0 || !rest.startsWith('[')) return null;
    }
    if (rest.startsWith('.')) {
      rest = rest.slice(1);
      expectKey = true;
      if (rest.length === 0) return null;
      continue;
    }
    const index = INDEX.exec(rest);
    if (index?.[1] !== undefined) {
      segments.push(Number(index[1]));
      rest = rest.slice(index[0].length);
      expectKey = false;
      continue;
    }
    const quoted = QUOTED.exec(rest);
    if (quoted) {
      segments.push(unescapeQuoted(quoted[1] ?? quoted[2] ?? ''));
      rest = rest.slice(quoted[0].length);
      expectKey = false;
      continue;
    }
    return null;
  }
  return segments;
}

/** Parses a path into segments; `null` when the syntax is not supported. Results are memoised. */
export function parsePath(path: string): readonly PathSegment[] | null {
  const hit = cache.get(path);
  if (hit !== undefined) return hit;
  const parsed = parseUncached(path);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(path, parsed === null ? null : Object.freeze(parsed));
  return parsed;
}

/** True when `path` is syntactically valid for {@link getPath}. */
export function isValidPath(path: string): boolean {
  return parsePath(path) !== null;
}

/** The first segment of a path (its root), or `undefined` for invalid paths. */
export function pathRoot(path: string): string | undefined {
  const first = parsePath(path)?.[0];
  return typeof first === 'string' ? first : undefined;
}

const hasOwn = (value: object, key: PropertyKey): boolean => Object.prototype.hasOwnProperty.call(value, key);

/**
 * Reads `path` from `obj`. Returns `undefined` when any step is missing, when the path is invalid or
 * when a step would walk into a non-object. Never throws.
 */
export function getPath(obj: unknown, path: string | readonly PathSegment[]): unknown {
  const segments = typeof path === 'string' ? parsePath(path) : path;
  if (segments === null) return undefined;
  let current: unknown = obj;
  for (const segment of segments) {
    if (current === null || current === undefined) return undefined;
    if (Array.isArray(current)) {
      if (typeof segment === 'number') {
        current = current[segment];
      } else if (segment === 'length') {
        current = current.length;
      } else {
        return undefined;
      }
      continue;
    }
    if (typeof current !== 'object') return undefined;
    const key = String(segment);
    if (!hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}
