/**
 * Bounded request bodies: bytes while streaming, then JSON depth and string sizes.
 *
 * Bytes. `limitBodies` is one app-level middleware bounding every request body before any route parses
 * it or checks a signature. A declared Content-Length over the limit is refused before anything is read.
 * A chunked body (no Content-Length) is read up to the limit and buffered (at most the limit), then handed
 * to the route; at the first chunk past the limit the middleware answers 413 problem+json at once and
 * lets the rest of the upload flow to nowhere: the server (@hono/node-server) discards what is still in
 * flight for at most 500 ms or 64 MiB and then closes the connection. That lingering close lets the
 * client read the 413 (closing at once resets the connection and can lose the answer) and keeps a
 * keep-alive connection usable after a small overshoot. Every route gets a limit: the PagerDuty webhook
 * 256 KiB, rule tests (which carry a payload and up to 100 alerts) 4 MiB, everything else 1 MiB.
 *
 * Written here rather than taken from hono/body-limit, which bounds memory the same way but leaves the
 * request stream locked and paused after an overflow: the server then cannot discard the rest and drops
 * the connection 500 ms later, and a keep-alive client's next request on it fails ("other side closed").
 *
 * JSON. `readBoundedJson` is the one reader every route's body goes through. It refuses bodies nested deeper than
 * {@link MAX_JSON_DEPTH} before parsing them (a scan of the text: JSON.parse itself copes with depth, but
 * whatever walks the value afterwards, zod, the JSON encoder of a Temporal payload or Postgres' jsonb,
 * may not), then strings (values and keys) longer than the route's string limit, with a 400 naming the
 * path. Hand-written because no kept library bounds depth and string sizes of a JSON document; the scan
 * is a dozen lines over the text's brackets and quotes.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { badRequest, problem } from './problem.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** The PagerDuty webhook's byte limit: PagerDuty's deliveries are a few KiB. */
export const MAX_WEBHOOK_BYTES = 256 * KiB;

/** Nesting deeper than this is refused (PagerDuty payloads and rules nest fewer than 15 levels). */
export const MAX_JSON_DEPTH = 64;

export interface BodyLimits {
  /** Bytes read at most; a larger body is answered 413 after reading at most this much. */
  maxBytes: number;
  /** Longest string (value or key) in a JSON body, in characters. */
  maxString: number;
}

export interface BodyLimitRule extends BodyLimits {
  /** Which requests the rule covers (the first matching rule applies). */
  path: RegExp;
  /** Called before a 413 is answered (the webhook records its outcome). */
  onTooLarge?: (c: Context) => void;
}

/** The default for every route not named in the rules. */
export const DEFAULT_BODY_LIMITS: BodyLimits = { maxBytes: 1 * MiB, maxString: 64 * KiB };

type LimitsEnv = { Variables: { bodyLimits?: BodyLimits } };

/**
 * Bytes of chunked bodies (no Content-Length) one app holds at once while reading them, before any route has
 * looked at the request's credentials. Each is bounded by its route's limit (4 MiB at most), but not how many
 * arrive together: 40 unauthenticated uploads of a little under 4 MiB, held open, made the API hold 160 MiB
 * and answered none of them (test/security/chunked-bodies-held.test.ts), and the server waits up to 300 s
 * (Node's requestTimeout) for a request. Past this, a chunked body is answered 503 with Retry-After at once
 * and the rest of it discarded. A body with a Content-Length is not held here at all (its route reads it, a
 * guarded route only once the credentials passed), and the CLI, the dashboard and PagerDuty all send one.
 */
export const MAX_HELD_CHUNKED_BYTES = 64 * MiB;

/** One middleware bounding every request body, per the first rule whose path matches, else the default. */
export function limitBodies(rules: readonly BodyLimitRule[], fallback: BodyLimits = DEFAULT_BODY_LIMITS, maxHeld = MAX_HELD_CHUNKED_BYTES): MiddlewareHandler<LimitsEnv> {
  let held = 0;
  return async (c, next) => {
    const rule = rules.find((r) => r.path.test(c.req.path));
    const limits = rule ? { maxBytes: rule.maxBytes, maxString: rule.maxString } : fallback;
    c.set('bodyLimits', limits);
    const tooLarge = () => {
      rule?.onTooLarge?.(c);
      return problem(c, 413, 'Payload Too Large', `the body exceeds ${limits.maxBytes} bytes, the limit of ${c.req.method} ${c.req.path}`, { limit: limits.maxBytes });
    };
    const raw = c.req.raw;
    const declared = raw.headers.get('content-length');
    if (declared !== null && !raw.headers.has('transfer-encoding')) {
      // The HTTP parser delivers no more than Content-Length bytes: checking the declaration is enough.
      // (The body is not touched when refusing: opening its stream would stall the server's discard.)
      return Number(declared) > limits.maxBytes ? tooLarge() : next();
    }
    if (!raw.body) return next();
    const reader = raw.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    let mine = 0; // of `held`: this request's bytes
    try {
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch {
          throw badRequest('the request body could not be read (the upload was cut off)', [{ path: '(body)', message: 'unreadable' }]);
        }
        if (chunk.done) break;
        size += chunk.value.byteLength;
        if (size > limits.maxBytes) {
          discard(reader);
          return tooLarge();
        }
        if (held + chunk.value.byteLength > maxHeld) {
          discard(reader);
          c.header('Retry-After', '1');
          return problem(c, 503, 'Service Unavailable', `the server is holding as many streamed (chunked) request bodies as it holds at once (${maxHeld} bytes); send a Content-Length, or try again in a second`, {
            limit: 'chunked-bodies',
          });
        }
        held += chunk.value.byteLength;
        mine += chunk.value.byteLength;
        chunks.push(chunk.value);
      }
      const body = new Uint8Array(size);
      let offset = 0;
      for (const chunk of chunks) {
        body.set(chunk, offset);
        offset += chunk.byteLength;
      }
      chunks.length = 0;
      c.req.raw = new Request(raw, { body });
      return await next();
    } finally {
      // What this request held (its chunks, then its body) is its route's to keep until it is answered.
      held -= mine;
    }
  };
}

/** Keep the rest of a refused upload flowing, dropped chunk by chunk, until it ends or the server closes the connection. */
function discard(reader: ReadableStreamDefaultReader<Uint8Array>): void {
  void (async () => {
    try {
      for (;;) if ((await reader.read()).done) return;
    } catch {
      // The connection went away: nothing left to discard.
    }
  })();
}

/**
 * The request body as JSON, within the route's limits (bytes were bounded by `limitBodies`): 400 with
 * the offending path when it is empty (unless `emptyAs` gives its value), not JSON, too deep or holds an
 * oversized string. src/api/router.ts runs it before every route's schema validation.
 */
export async function readBoundedJson(c: Context, emptyAs?: unknown): Promise<unknown> {
  const limits = (c.get('bodyLimits') as BodyLimits | undefined) ?? DEFAULT_BODY_LIMITS;
  let text: string;
  try {
    text = await c.req.text();
  } catch {
    throw badRequest('the request body could not be read', [{ path: '(body)', message: 'unreadable' }]);
  }
  if (emptyAs !== undefined && text.trim() === '') return emptyAs;
  const parsed = parseBoundedJson(text, limits.maxString);
  if (!parsed.ok) throw badRequest(parsed.detail, [{ path: parsed.path, message: parsed.message }]);
  // What the API stores goes to Postgres text and jsonb, which hold neither U+0000 nor a lone UTF-16
  // surrogate (JSON can spell both): refused here with the path, instead of a 500 from the database.
  const bad = unstorableString(parsed.value);
  if (bad) throw badRequest(`the JSON body holds ${bad.what} at ${bad.path}, which cannot be stored`, [{ path: bad.path, message: `contains ${bad.what}` }]);
  return parsed.value;
}

/** What in `s` Postgres text cannot store (U+0000 or a lone surrogate), if anything; path and query parameters are checked with it too. */
export function unstorableChar(s: string): string | undefined {
  return s.includes('\0') ? 'U+0000 (NUL)' : !s.isWellFormed() ? 'a lone UTF-16 surrogate' : undefined;
}

/** The first string (value or key) holding U+0000 or a lone surrogate, depth-first (depth is bounded). */
function unstorableString(value: unknown): { path: string; what: string } | undefined {
  const found = firstString(value, (s) => unstorableChar(s));
  return found && { path: pathOf(found.trail, (key) => key.replace(/[\0\uD800-\uDFFF]/g, '\uFFFD')), what: found.what };
}

/**
 * The first string (value or key), depth-first, for which `bad` says what is wrong, and the keys and indexes
 * leading to it. The way there is kept as a list and spelled out (pathOf) only for the string found: before,
 * every value's path was written as the walk went, and a read token's 3.6 MiB rule test of 1.9 million
 * zeros held the event loop for seconds writing paths nobody read (JSON.parse of it takes a tenth of that).
 */
function firstString<T>(value: unknown, bad: (s: string) => T | undefined): { trail: (string | number)[]; what: T } | undefined {
  const trail: (string | number)[] = [];
  const walk = (v: unknown): T | undefined => {
    if (typeof v === 'string') return bad(v);
    if (typeof v !== 'object' || v === null) return undefined;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        trail.push(i);
        const what = walk(v[i]);
        if (what !== undefined) return what;
        trail.pop();
      }
      return undefined;
    }
    // Object.keys, not Object.entries: a pair per member took three times JSON.parse over 330,000 keys.
    for (const key of Object.keys(v)) {
      trail.push(key);
      const what = bad(key) ?? walk((v as Record<string, unknown>)[key]);
      if (what !== undefined) return what;
      trail.pop();
    }
    return undefined;
  };
  const what = walk(value);
  return what === undefined ? undefined : { trail, what };
}

/** A path as the 400 names it: `(body)`, `a.b[2].c`, `[0].x`; each key cut at 100 characters (and `clean`ed). */
function pathOf(trail: readonly (string | number)[], clean: (key: string) => string = (key) => key): string {
  let path = '(body)';
  for (const step of trail) {
    if (typeof step === 'number') path = `${path === '(body)' ? '' : path}[${step}]`;
    else {
      const key = clean(step.slice(0, 100));
      path = path === '(body)' ? key : `${path}.${key}`;
    }
  }
  return path;
}

export type BoundedJson = { ok: true; value: unknown } | { ok: false; path: string; message: string; detail: string };

/** JSON.parse within MAX_JSON_DEPTH and a string limit; never throws. */
export function parseBoundedJson(text: string, maxString: number, maxDepth = MAX_JSON_DEPTH): BoundedJson {
  const fail = (path: string, message: string, detail: string): BoundedJson => ({ ok: false, path, message, detail });
  if (text.trim() === '') return fail('(body)', 'required', 'a JSON body is required');
  const deepest = nestingExceeds(text, maxDepth);
  if (deepest) return fail('(body)', `nested deeper than ${maxDepth} levels`, `the JSON body nests deeper than ${maxDepth} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    return fail('(body)', 'invalid JSON', 'the body is not valid JSON');
  }
  const long = longString(value, maxString);
  if (long) return fail(long.path, `string of ${long.length} characters; the limit is ${maxString}`, `the JSON body holds a string of ${long.length} characters at ${long.path}; the limit is ${maxString}`);
  return { ok: true, value };
}

/** Whether arrays and objects in a parsed value nest deeper than `max`; the walk stops there, so any value is safe. */
export function nestsDeeper(value: unknown, max = MAX_JSON_DEPTH, depth = 0): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (depth >= max) return true;
  return Object.values(value).some((item) => nestsDeeper(item, max, depth + 1));
}

/** Whether `[`/`{` nest deeper than `max` outside strings. Malformed text is left to JSON.parse. */
function nestingExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > max) return true;
    } else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return false;
}

/** The first string (value or key) longer than `max`, depth-first; the value's depth is already bounded. */
function longString(value: unknown, max: number): { path: string; length: number } | undefined {
  const found = firstString(value, (s) => (s.length > max ? s.length : undefined));
  return found && { path: pathOf(found.trail), length: found.what };
}

/** The same reader, under the name route groups written before src/api/router.ts use. */
export const readJsonBody = (c: Context): Promise<unknown> => readBoundedJson(c);
