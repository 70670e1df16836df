/**
 * The one path grammar of the product: rule condition fields, template placeholders and extractor paths.
 *
 * Supported syntax: `a.b.c`, `a.b[0].c`, `a[0][1]`, and quoted keys for names that are not plain
 * identifiers: `alert.details["kube.namespace"]`. Extractor paths (src/domain/extract.ts) may also hold
 * wildcards, `*` for every value of an object or array and `[*]` for every element ({@link parsePattern});
 * conditions and templates may not. Nothing else: no filters or expressions.
 * Only own properties are read, so `__proto__`, `constructor` etc. never resolve to prototype members.
 *
 * Pure: no I/O, safe inside Temporal workflow code.
 */

export type PathSegment = string | number;

/** A wildcard step of an extractor path: every value of an object, every element of an array. */
export const WILDCARD: unique symbol = Symbol('*');
export type PatternSegment = PathSegment | typeof WILDCARD;

const PLAIN_KEY = /^[A-Za-z_$][\w$-]*/;
const INDEX = /^\[(\d{1,9})\]/;
const WILD_INDEX = '[*]';
const QUOTED = /^\[(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\]/;
const MAX_PATH_LENGTH = 512;
const CACHE_LIMIT = 2000;

/** Parsed paths, plain and with wildcards, by mode and path (one cache, bounded). */
const cache = new Map<string, readonly PatternSegment[] | null>();

function unescapeQuoted(raw: string): string {
  return raw.replace(/\\(.)/g, '$1');
}

function parseUncached(path: string, wildcards: boolean): PatternSegment[] | null {
  if (path.length === 0 || path.length > MAX_PATH_LENGTH) return null;
  const segments: PatternSegment[] = [];
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
      if (wildcards && rest.startsWith('*')) {
        segments.push(WILDCARD);
        rest = rest.slice(1);
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
    if (wildcards && rest.startsWith(WILD_INDEX)) {
      segments.push(WILDCARD);
      rest = rest.slice(WILD_INDEX.length);
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

function parseCached(path: string, wildcards: boolean): readonly PatternSegment[] | null {
  const key = (wildcards ? '*' : '.') + path;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const parsed = parseUncached(path, wildcards);
  const frozen = parsed === null ? null : Object.freeze(parsed);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, frozen);
  return frozen;
}

/** Parses a path into segments; `null` when the syntax is not supported (wildcards included). Results are memoised. */
export function parsePath(path: string): readonly PathSegment[] | null {
  return parseCached(path, false) as readonly PathSegment[] | null;
}

/** Parses an extractor path, which may hold `*` and `[*]` ({@link WILDCARD}); `null` when not supported. Memoised. */
export function parsePattern(path: string): readonly PatternSegment[] | null {
  return parseCached(path, true);
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
