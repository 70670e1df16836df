// Runs dependency-cruiser the way `npm run lint` does (.dependency-cruiser.cjs) on throw-away modules written into
// the tree, and reads what it says: used by the tests that prove the layer rules catch a wrong-way import.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPCRUISE = path.join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruiser.mjs');

export interface Violation {
  rule: string;
  from: string;
  to: string;
}

export interface Run {
  status: number | null;
  output: string;
  /** The `error <rule>: <from> → <to>` lines of the output (for a cycle, its first step). */
  violations: Violation[];
}

/**
 * The lint configuration as it is, less its list of known violations: cruising a few files, the whole tree's
 * known entries would all be stale (an error of their own), hiding what the rules say about these files.
 */
const CONFIG = '.__layer-rules-test.cjs';
const CONFIG_SOURCE = `const base = require('./.dependency-cruiser.cjs');
module.exports = { ...base, options: { ...base.options, knownViolations: [] } };
`;

/**
 * Writes `files` (path relative to the repository → source), runs depcruise on them as lint does, removes them.
 * It reads only their own imports (`--max-depth 1`, which is quicker and keeps what the modules they import do
 * out of the answer), unless `follow` (a cycle is seen only by following imports all the way round).
 */
export function cruise(files: Record<string, string>, follow = false): Run {
  const paths = Object.keys(files);
  try {
    writeFileSync(path.join(ROOT, CONFIG), CONFIG_SOURCE);
    for (const [rel, source] of Object.entries(files)) writeFileSync(path.join(ROOT, rel), source);
    const run = spawnSync(process.execPath, [DEPCRUISE, ...paths, '--config', CONFIG, ...(follow ? [] : ['--max-depth', '1'])], { cwd: ROOT, encoding: 'utf8' });
    const output = run.stdout + run.stderr;
    const violations = [...output.matchAll(/error ([a-z-]+): (\S+) →\s+(\S+)/g)].map(([, rule, from, to]) => ({ rule: rule!, from: from!, to: to! }));
    return { status: run.status, output, violations };
  } finally {
    for (const rel of [...paths, CONFIG]) rmSync(path.join(ROOT, rel), { force: true });
  }
}

/** A clean run: exit 0 and depcruise's all-clear. */
export function assertClean(run: Run): void {
  assert.equal(run.status, 0, run.output);
  assert.deepEqual(run.violations, []);
  assert.match(run.output, /no dependency violations found/);
}

/** The violations of one rule. */
export const named = (run: Run, rule: string): Violation[] => run.violations.filter((v) => v.rule === rule);
