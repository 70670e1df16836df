// Reading desired state from files: YAML (several `---` documents per file) or JSON, a file or a folder
// of *.yaml/*.yml/*.json. Each object names its `kind` (Rule, Environment, Job), as Kubernetes manifests
// do; a document may also be a list of objects, or `rules: [...]` (the format `selfheal rules export` wrote).
import { lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseAllDocuments, type YAMLError } from 'yaml';
import { isPlainObject } from '../../domain/json-diff.js';
import { usageError } from '../errors.js';
import { leadsInside, leavesWorkingFolder } from '../files.js';

/** Kinds in dependency order: environments before the jobs (and rules) that may name them. */
export const KINDS = ['Environment', 'Job', 'Rule'] as const;
export type Kind = (typeof KINDS)[number];

/** Files larger than this are refused (a manifest is text an SRE wrote, not a data dump). */
const MAX_FILE_BYTES = 4 * 1024 * 1024;
/**
 * All files together: the YAML library takes about 0.2 GB and 2.5 s per MB of tiny items (a file of
 * `- 1` lines), so 2,000 files of 4 MiB would hold a CI runner for hours. An estate's 5,000 objects
 * export to a few MB.
 */
const MAX_TOTAL_BYTES = 16 * 1024 * 1024;
const MAX_FILES = 2000;
const MAX_OBJECTS = 5000;
const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export interface Manifest {
  kind: Kind;
  /** The object without `kind`. */
  raw: Record<string, unknown>;
  file: string;
  /** Position among the objects of its file, from 0. */
  index: number;
}

/** `gitops/jobs.yaml, object 2 (Job nightly)`: where an object is, for messages. */
export function describeManifest(m: Pick<Manifest, 'kind' | 'raw' | 'file' | 'index'>): string {
  const key = typeof m.raw.id === 'string' && m.kind === 'Job' ? m.raw.id : typeof m.raw.name === 'string' ? m.raw.name : undefined;
  return `${m.file}, object ${m.index + 1} (${m.kind}${key ? ` ${key}` : ''})`;
}

/**
 * A file or folder given with -f is read only when it is not itself a symbolic link, and, when it is named
 * inside the working folder (CI's checkout), only when its real path stays inside it: a change that turns
 * `selfheal/` (or `selfheal/rules.yaml`, or a folder on the way to it) into a link would otherwise have the
 * runner read .yaml/.json files from anywhere on it. A target named outside the working folder (an absolute
 * path, ../) is the caller's own choice, and is read.
 */
function checkTarget(target: string): void {
  let stat;
  try {
    stat = lstatSync(target);
  } catch (err) {
    throw usageError(`cannot read ${target}: ${(err as Error).message}`);
  }
  if (stat.isSymbolicLink()) throw usageError(`${target}: a symbolic link; not followed (give the file or folder itself)`);
  // The same question `export -o` asks of the place it writes (../files.ts).
  if (leavesWorkingFolder(target)) throw usageError(`${target}: leads outside the working folder ${process.cwd()} through a symbolic link; not read`);
}

function listFiles(target: string, recursive: boolean, out: string[], root = target): void {
  let stat;
  try {
    stat = statSync(target);
  } catch (err) {
    throw usageError(`cannot read ${target}: ${(err as Error).message}`);
  }
  if (!stat.isDirectory()) {
    out.push(target);
    return;
  }
  for (const entry of readdirSync(target, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(target, entry.name);
    if (entry.isSymbolicLink()) {
      // Followed only when it stays inside the folder: in CI, a change that adds `x.yaml -> ~/.ssh/id_rsa`
      // (or /proc/self/environ) would otherwise have the runner read its own secrets and print them in a
      // parse error, or send them to the API as a rule.
      if (!leadsInside(full, root)) throw usageError(`${full}: a symbolic link that leads outside ${root} (or nowhere); not followed`);
      // Inside the folder: a linked file is read like any other; a linked folder is not descended (no loops).
      if (!statSync(full).isDirectory() && EXTENSIONS.has(path.extname(entry.name).toLowerCase())) out.push(full);
    } else if (entry.isDirectory()) {
      if (recursive) listFiles(full, recursive, out, root);
    } else if (EXTENSIONS.has(path.extname(entry.name).toLowerCase())) {
      out.push(full);
    }
    if (out.length > MAX_FILES) throw usageError(`more than ${MAX_FILES} files under ${target}`);
  }
}

/**
 * The YAML library's messages for these codes are its own words (at most a grammar character of the file);
 * the others may quote the file (a tag, a directive, an escape, a bad token) and are replaced by their kind.
 */
const OWN_WORDS = new Set<string>([
  'ALIAS_PROPS',
  'BAD_ALIAS',
  'BAD_INDENT',
  'BAD_PROP_ORDER',
  'BAD_SCALAR_START',
  'BLOCK_AS_IMPLICIT_KEY',
  'BLOCK_IN_FLOW',
  'DUPLICATE_KEY',
  'IMPOSSIBLE',
  'KEY_OVER_1024_CHARS',
  'MISSING_CHAR',
  'MULTILINE_IMPLICIT_KEY',
  'MULTIPLE_ANCHORS',
  'MULTIPLE_DOCS',
  'MULTIPLE_TAGS',
  'NON_STRING_KEY',
  'RESOURCE_EXHAUSTION',
  'TAB_AS_INDENT',
]);
const QUOTING: Record<string, string> = {
  BAD_DIRECTIVE: 'invalid directive',
  BAD_DQ_ESCAPE: 'invalid escape sequence in a double-quoted string',
  BAD_COLLECTION_TYPE: 'a tag that does not fit its collection',
  TAG_RESOLVE_FAILED: 'a tag that cannot be resolved',
  UNEXPECTED_TOKEN: 'unexpected token',
};

/**
 * A YAML syntax error as its kind and position only: never the source line the library quotes under it, which
 * in CI (a file that is not what it seems) could be a secret printed into the log.
 */
export function yamlErrorMessage(err: YAMLError, lines: LineCounter): string {
  // "Unexpected scalar at node end", "Unexpected map-value-ind token in YAML stream" keep their words (token
  // types), not what follows them ("AKIA…", the token's text).
  const token = err.code === 'UNEXPECTED_TOKEN' ? /^Unexpected [a-z-]+(?: token)?(?: at node end| in YAML stream)?(?=:|$)/.exec(err.message)?.[0] : undefined;
  const first = (OWN_WORDS.has(err.code) ? err.message.split('\n')[0]! : (token ?? QUOTING[err.code] ?? 'not valid YAML')).replace(/[:\s]+$/, '');
  const at = err.pos[0] >= 0 ? lines.linePos(err.pos[0]) : undefined;
  return at ? `${first} at line ${at.line}, column ${at.col}` : first;
}

/** Problems listed in one error; the rest are counted. */
const MAX_PROBLEMS_SHOWN = 50;

const tooMany = (what: string) => usageError(`more than ${MAX_OBJECTS} objects in ${what}`);

/**
 * The objects of one file, in order, with the `kind` each declares (or `implicitKind`). `seen` counts
 * every object read so far, valid or not, against MAX_OBJECTS: a file of a million `- 1` is refused as
 * too many objects, not answered with a million problems.
 */
function readFile(file: string, implicitKind: Kind | undefined, problems: string[], seen: { objects: number; bytes: number; what: string }): Manifest[] {
  let text: string;
  try {
    const { size } = statSync(file);
    if (size > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB`);
    if (seen.bytes + size > MAX_TOTAL_BYTES) throw new Error(`the files read before it and this one are more than ${MAX_TOTAL_BYTES / 1024 / 1024} MiB together`);
    seen.bytes += size;
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw usageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const objects: { value: unknown; legacyRule: boolean }[] = [];
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  // A text without a document answers an empty list carrying the stream's errors (a bad directive).
  const streamErrors = 'empty' in docs ? docs.errors : [];
  if (streamErrors.length > 0) throw usageError(`${file}: ${yamlErrorMessage(streamErrors[0]!, lines)}`);
  for (const doc of docs) {
    if (doc.errors.length > 0) throw usageError(`${file}: ${yamlErrorMessage(doc.errors[0]!, lines)}`);
    let value: unknown;
    try {
      // The YAML library refuses aliases that would expand past its limit (a "billion laughs" file).
      value = doc.toJS();
    } catch (err) {
      // Its own words, less what it quotes after a colon (an unresolved alias names the file's text).
      throw usageError(`${file}: ${((err as Error).message.split('\n')[0] ?? '').replace(/:.*$/, '')}`);
    }
    if (value === null || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) objects.push({ value: v, legacyRule: false });
    else if (isPlainObject(value) && value.kind === undefined && Array.isArray(value.rules)) for (const v of value.rules as unknown[]) objects.push({ value: v, legacyRule: true });
    else objects.push({ value, legacyRule: false });
    if (seen.objects + objects.length > MAX_OBJECTS) throw tooMany(seen.what);
  }
  seen.objects += objects.length;
  const out: Manifest[] = [];
  objects.forEach(({ value, legacyRule }, index) => {
    const where = `${file}, object ${index + 1}`;
    if (!isPlainObject(value)) {
      problems.push(`${where}: must be a mapping (an object with "kind"), not ${Array.isArray(value) ? 'a list' : typeof value}`);
      return;
    }
    const { kind, ...raw } = value;
    const resolved = kind === undefined ? (legacyRule ? 'Rule' : implicitKind) : kind;
    if (resolved === undefined) {
      problems.push(`${where}: "kind" is required (${KINDS.join(', ')})`);
      return;
    }
    if (typeof resolved !== 'string' || !(KINDS as readonly string[]).includes(resolved)) {
      problems.push(`${where}: kind ${JSON.stringify(resolved)} is not known (${KINDS.join(', ')})`);
      return;
    }
    out.push({ kind: resolved as Kind, raw, file, index });
  });
  return out;
}

export interface ReadOptions {
  /** Descend into sub-folders of a folder. */
  recursive?: boolean;
  /** The kind of an object that names none (`selfheal rules apply`: Rule); otherwise `kind` is required. */
  implicitKind?: Kind;
}

/** Every object of the given files and folders; a usage error (exit 2) naming each problem otherwise. */
export function readManifests(targets: string[], opts: ReadOptions = {}): Manifest[] {
  const files: string[] = [];
  for (const t of targets) {
    checkTarget(t);
    listFiles(t, opts.recursive === true, files);
  }
  if (files.length === 0) throw usageError(`no .yaml, .yml or .json file in ${targets.join(', ')}`);
  const problems: string[] = [];
  const manifests: Manifest[] = [];
  const seen = { objects: 0, bytes: 0, what: targets.join(', ') };
  for (const f of [...new Set(files)]) manifests.push(...readFile(f, opts.implicitKind, problems, seen));
  if (problems.length > 0) {
    const more = problems.length > MAX_PROBLEMS_SHOWN ? `\n  ... and ${problems.length - MAX_PROBLEMS_SHOWN} more` : '';
    throw usageError(`the files are not valid:\n  ${problems.slice(0, MAX_PROBLEMS_SHOWN).join('\n  ')}${more}`);
  }
  // As kubectl does: files emptied by a bad merge or commented out would otherwise read as "nothing is
  // wanted", and an apply with --prune would delete every object of the pruned kinds.
  if (manifests.length === 0) throw usageError(`no object in ${targets.join(', ')}: the files are empty or commented out; nothing was applied or deleted`);
  return manifests;
}
