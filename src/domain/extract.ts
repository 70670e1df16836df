// Environment extraction: which host / environment / region / account / cluster an incident is about.
// PURE: used from activities and workflows alike. Extracted values are data, never code: they are
// kept as trimmed strings capped at MAX_VALUE_LENGTH and never interpreted here.
import { z } from './zod.js';
import { isPlainObject } from './objects.js';
import { parsePattern, WILDCARD, type PatternSegment } from './json-path.js';
import { compileUserRegex, MAX_SUBJECT_LENGTH, type UserRegex } from './regex.js';
import { cutAt } from './text.js';
import { withoutOmittedMarker } from './stored-alerts.js';

export const MAX_VALUE_LENGTH = 256;
/** Texts longer than this are cut before regexes run, to bound matching cost. */
export const MAX_TEXT_LENGTH = MAX_SUBJECT_LENGTH;
/** Alert detail strings beyond this many characters in total are not looked at by regex extractors. */
export const MAX_DETAILS_TEXT = 256 * 1024;
/** Alerts beyond this many are not looked at. */
export const MAX_ALERTS = 100;

const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const RESERVED_FIELDS = new Set(['sources']);

const fieldNameSchema = z
  .string()
  .regex(FIELD_NAME, 'field names are letters, digits and _, starting with a letter (max 64)')
  .refine((name) => !RESERVED_FIELDS.has(name), 'field name is reserved');

// ---------------------------------------------------------------------------------------------
// Paths: `details.host`, `cef_details.source_location`, `body.contexts[0].href`, `details.*`.

type PathStep = { kind: 'key'; key: string } | { kind: 'index'; index: number } | { kind: 'wildcard' };

const toStep = (segment: PatternSegment): PathStep =>
  segment === WILDCARD ? { kind: 'wildcard' } : typeof segment === 'number' ? { kind: 'index', index: segment } : { kind: 'key', key: segment };

/**
 * Parse an extractor path, in the product's one path grammar (src/domain/json-path.ts) with wildcards;
 * undefined when it is not one.
 */
export function parsePath(path: string): PathStep[] | undefined {
  return parsePattern(path)?.map(toStep);
}

/** Every value reached by `steps` from `root`, depth-first in document order. */
function walk(root: unknown, steps: readonly PatternSegment[], out: unknown[], limit = 1000, from = 0): void {
  if (out.length >= limit) return;
  if (from === steps.length) {
    out.push(root);
    return;
  }
  const step = steps[from]!;
  if (step === WILDCARD) {
    if (Array.isArray(root)) for (const item of root) walk(item, steps, out, limit, from + 1);
    else if (isPlainObject(root)) for (const value of Object.values(root)) walk(value, steps, out, limit, from + 1);
  } else if (typeof step === 'number') {
    if (Array.isArray(root) && step < root.length) walk(root[step], steps, out, limit, from + 1);
  } else if (isPlainObject(root) && Object.hasOwn(root, step)) {
    walk(root[step], steps, out, limit, from + 1);
  }
}

// ---------------------------------------------------------------------------------------------
// Config

// Each of i, m, s, u at most once: at most four letters, told apart by a Set (a back-reference lookahead,
// /^(?!.*(.).*\1)/, took quadratic time on a long flags string of distinct characters).
const REGEX_FLAGS = /^[imsu]{0,4}$/;
const FLAGS_MESSAGE = 'flags are any of i, m, s, u, each once';

export const regexExtractorSchema = z
  .object({
    type: z.literal('regex'),
    name: z.string().min(1).max(100).optional(),
    source: z.enum(['title', 'description', 'details', 'any']),
    pattern: z.string().min(1).max(2000),
    flags: z
      .string()
      .regex(REGEX_FLAGS, FLAGS_MESSAGE)
      .refine((flags) => new Set(flags).size === flags.length, FLAGS_MESSAGE)
      .optional(),
    /** Lower-case what the groups captured (e.g. `[PROD-WEST]` → `prod`). */
    lowercase: z.boolean().optional(),
  })
  .superRefine((extractor, ctx) => {
    // The same linear-time engine as rule conditions: attacker-controlled titles cannot stall it.
    const compiled = compileUserRegex(extractor.pattern, extractor.flags ?? '');
    if (!compiled.ok) {
      ctx.addIssue({ code: 'custom', path: ['pattern'], message: compiled.reason });
      return;
    }
    const groups = compiled.regex.groupNames;
    if (groups.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['pattern'], message: 'pattern needs at least one named group, e.g. (?<host>[\\w.-]+)' });
    }
    for (const group of groups) {
      if (!FIELD_NAME.test(group) || RESERVED_FIELDS.has(group)) {
        ctx.addIssue({ code: 'custom', path: ['pattern'], message: `group name ${group} is not a valid field name` });
      }
    }
  });

export const jsonpathExtractorSchema = z.object({
  type: z.literal('jsonpath'),
  name: z.string().min(1).max(100).optional(),
  field: fieldNameSchema,
  path: z.string().refine((path) => parsePath(path) !== undefined, 'path must be dotted keys with optional [n], [*], * or ["quoted.key"], e.g. details.host'),
});

export const extractorSchema = z.discriminatedUnion('type', [regexExtractorSchema, jsonpathExtractorSchema]);

export const serviceMapSchema = z.record(
  z.string().min(1),
  z.record(fieldNameSchema, z.string().max(MAX_VALUE_LENGTH)),
);

export const extractorsConfigSchema = z.object({
  /** Tried first, in order; the first extractor to produce a field wins it. */
  extractors: z.array(extractorSchema).max(200).default([]),
  /** Fixed fields per PagerDuty service id; tried after `extractors`. */
  serviceMap: serviceMapSchema.default({}),
  /** Whether {@link defaultExtractors} run last. */
  useDefaults: z.boolean().default(true),
});

export type RegexExtractor = z.infer<typeof regexExtractorSchema>;
export type JsonpathExtractor = z.infer<typeof jsonpathExtractorSchema>;
export type Extractor = z.infer<typeof extractorSchema>;
export type ExtractorsConfig = z.input<typeof extractorsConfigSchema>;

export interface ExtractionInput {
  title?: string | null | undefined;
  description?: string | null | undefined;
  serviceId?: string | null | undefined;
  /** PagerDuty alert objects as returned by GET /incidents/{id}/alerts. */
  alerts?: readonly unknown[] | null | undefined;
}

export interface ExtractedEnvironment {
  environment?: string;
  region?: string;
  account?: string;
  host?: string;
  cluster?: string;
  [field: string]: string | Record<string, string> | undefined;
  /** Which extractor produced each field. */
  sources: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// Defaults an SRE would expect without configuring anything.

const ENV_WORDS = 'prod|production|prd|stg|stage|staging|preprod|pre-prod|dev|development|test|qa|uat|sandbox|perf|demo';

function detailPaths(field: string, keys: string[]): JsonpathExtractor[] {
  return keys.map((path) => ({ type: 'jsonpath', name: `default:${path}`, field, path }));
}

/** Alertmanager puts the alert's labels in a `firing` text: ` - label = value` lines. */
function alertmanagerLabel(field: string, labels: string[]): RegexExtractor {
  return {
    type: 'regex',
    name: `default:alertmanager-label:${labels.join('|')}`,
    source: 'details',
    pattern: `^\\s*-\\s*(?:${labels.join('|')})\\s*=\\s*(?<${field}>\\S[^\\n]*?)\\s*$`,
    flags: 'm',
  };
}

export const defaultExtractors: readonly Extractor[] = Object.freeze([
  ...detailPaths('host', ['details.host', 'details.hostname', 'details.instance', 'details.source', 'cef_details.source_location', 'cef_details.source_component']),
  ...detailPaths('environment', ['details.environment', 'details.env']),
  ...detailPaths('region', ['details.region', 'details.aws_region']),
  ...detailPaths('account', ['details.account', 'details.account_id']),
  ...detailPaths('cluster', ['details.cluster', 'details.k8s_cluster']),
  alertmanagerLabel('host', ['instance', 'host', 'hostname']),
  alertmanagerLabel('environment', ['environment', 'env']),
  alertmanagerLabel('region', ['region', 'aws_region']),
  alertmanagerLabel('account', ['account', 'account_id']),
  alertmanagerLabel('cluster', ['cluster', 'k8s_cluster']),
  {
    type: 'regex',
    name: 'default:title-tag',
    source: 'title',
    // `[PROD-WEST]`, `[staging us-east-1]`, `[PROD]`
    pattern: `\\[(?<environment>${ENV_WORDS})(?:[-_ /](?<region>[a-z0-9][a-z0-9-]*))?\\]`,
    flags: 'i',
    lowercase: true,
  },
]);

// ---------------------------------------------------------------------------------------------
// Extraction

function compile(pattern: string, flags: string | undefined): UserRegex | undefined {
  const r = compileUserRegex(pattern, flags ?? '');
  return r.ok ? r.regex : undefined;
}

/** A value fit to keep: scalars only, trimmed, non-empty, capped. */
export function cleanValue(value: unknown): string | undefined {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' && Number.isFinite(value)) text = String(value);
  else if (typeof value === 'boolean') text = String(value);
  else return undefined;
  text = text.trim();
  if (text.length === 0) return undefined;
  return cutAt(text, MAX_VALUE_LENGTH);
}

function cut(text: string): string {
  return cutAt(text, MAX_TEXT_LENGTH);
}

interface Prepared {
  title: string[];
  description: string[];
  details: string[];
  roots: Record<string, unknown>[];
}

function stringLeaves(value: unknown, out: string[], depth = 0): void {
  if (out.length >= 1000 || depth > 8) return;
  if (typeof value === 'string') out.push(cut(value));
  else if (Array.isArray(value)) for (const item of value) stringLeaves(item, out, depth + 1);
  else if (isPlainObject(value)) for (const item of Object.values(value)) stringLeaves(item, out, depth + 1);
}

function prepare(input: ExtractionInput): Prepared {
  const alerts = withoutOmittedMarker(input.alerts ?? []).slice(0, MAX_ALERTS).filter(isPlainObject);
  const roots = alerts.map((alert) => {
    const body = isPlainObject(alert['body']) ? alert['body'] : {};
    const cef = isPlainObject(body['cef_details']) ? body['cef_details'] : undefined;
    // Events API v2 custom_details land in body.details and again in body.cef_details.details.
    const details = body['details'] ?? cef?.['details'];
    return { ...alert, body, details, cef_details: cef };
  });
  const details: string[] = [];
  for (const root of roots) stringLeaves(root.details, details);
  // Bound the regex work of one extraction: detail strings past MAX_DETAILS_TEXT characters are not read.
  let budget = MAX_DETAILS_TEXT;
  for (let i = 0; i < details.length; i++) {
    if (budget <= 0) {
      details.length = i;
      break;
    }
    if (details[i]!.length > budget) details[i] = cutAt(details[i]!, budget);
    budget -= details[i]!.length;
  }
  return {
    title: typeof input.title === 'string' ? [cut(input.title)] : [],
    description: typeof input.description === 'string' ? [cut(input.description)] : [],
    details,
    roots,
  };
}

function runRegex(extractor: RegexExtractor, prepared: Prepared): Record<string, string> {
  const regex = compile(extractor.pattern, extractor.flags);
  if (!regex) return {};
  const texts =
    extractor.source === 'any'
      ? [...prepared.title, ...prepared.description, ...prepared.details]
      : prepared[extractor.source];
  const found: Record<string, string> = {};
  for (const text of texts) {
    const groups = regex.groups(text);
    if (!groups) continue;
    for (const [name, raw] of Object.entries(groups)) {
      if (!FIELD_NAME.test(name) || RESERVED_FIELDS.has(name) || Object.hasOwn(found, name)) continue;
      const value = cleanValue(raw);
      if (value !== undefined) found[name] = extractor.lowercase ? value.toLowerCase() : value;
    }
  }
  return found;
}

function runPath(extractor: JsonpathExtractor, prepared: Prepared): Record<string, string> {
  const steps = parsePattern(extractor.path);
  if (!steps) return {};
  for (const root of prepared.roots) {
    const values: unknown[] = [];
    walk(root, steps, values);
    for (const value of values) {
      const cleaned = cleanValue(value);
      if (cleaned !== undefined) return { [extractor.field]: cleaned };
    }
  }
  return {};
}

function describe(extractor: Extractor): string {
  if (extractor.name) return extractor.name;
  return extractor.type === 'regex' ? `regex:${extractor.source}:/${extractor.pattern}/${extractor.flags ?? ''}` : `jsonpath:${extractor.path}`;
}

function serviceIdOf(input: ExtractionInput, prepared: Prepared): string | undefined {
  if (input.serviceId) return input.serviceId;
  for (const root of prepared.roots) {
    const service = root['service'];
    if (isPlainObject(service) && typeof service['id'] === 'string' && service['id']) return service['id'];
  }
  return undefined;
}

// A process parses its extractors config once and extracts many times (the worker per incident, a backtest
// per event): the parsed config (zod, with its regex screening) and the parsed paths are kept. Configs are
// read-only once loaded.
const parsedConfigs = new WeakMap<object, z.output<typeof extractorsConfigSchema>>();
function parsedConfig(config: ExtractorsConfig): z.output<typeof extractorsConfigSchema> {
  let parsed = parsedConfigs.get(config);
  if (!parsed) {
    parsed = extractorsConfigSchema.parse(config);
    parsedConfigs.set(config, parsed);
  }
  return parsed;
}

/**
 * Extract environment fields from an incident and its alerts. Configured extractors run first (in
 * order), then the service map, then the defaults; the first source to produce a field keeps it.
 * `config` is parsed with {@link extractorsConfigSchema}, so a raw stored config may be passed.
 */
export function extractEnvironment(input: ExtractionInput, config: ExtractorsConfig = {}): ExtractedEnvironment {
  const parsed = parsedConfig(config);
  const prepared = prepare(input);
  const result: ExtractedEnvironment = { sources: {} };

  const take = (found: Record<string, string>, source: string): void => {
    for (const [field, value] of Object.entries(found)) {
      if (Object.hasOwn(result.sources, field)) continue;
      result[field] = value;
      result.sources[field] = source;
    }
  };
  const run = (extractor: Extractor): void => {
    take(extractor.type === 'regex' ? runRegex(extractor, prepared) : runPath(extractor, prepared), describe(extractor));
  };

  for (const extractor of parsed.extractors) run(extractor);
  const serviceId = serviceIdOf(input, prepared);
  const mapped = serviceId !== undefined && Object.hasOwn(parsed.serviceMap, serviceId) ? parsed.serviceMap[serviceId] : undefined;
  if (mapped) {
    const cleaned: Record<string, string> = {};
    for (const [field, value] of Object.entries(mapped)) {
      const v = cleanValue(value);
      if (v !== undefined) cleaned[field] = v;
    }
    take(cleaned, `serviceMap:${serviceId}`);
  }
  if (parsed.useDefaults) for (const extractor of defaultExtractors) run(extractor);
  return result;
}
