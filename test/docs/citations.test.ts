// The docs back their promises by naming the test that attacks each one ("test/x.test.ts", sometimes
// with the test's title in quotes). A test that is moved, renamed or deleted would leave the promise
// pointing at nothing; this keeps every such citation in README.md, docs/ and the chart's README true.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function markdownFiles(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.md') ? [path.join(dir, e.name)] : []));
  return ['README.md', ...walk('docs'), ...walk('deploy')];
}

export interface Citation {
  file: string;
  line: number;
  /** As written: a path under test/, with or without its `.test.ts`. */
  cited: string;
  /** The quoted test title right after the path, if any. */
  title?: string;
}

/** Every `test/…` path in a markdown text, with the `"title"` that follows it when there is one. */
export function citations(file: string, markdown: string): Citation[] {
  const found: Citation[] = [];
  // A path ends before the punctuation that closes a sentence or a parenthesis.
  const re = /(?<![\w/.-])test\/[\w./-]*[\w-](?:\.test\.ts)?(?:[ ,]+"([^"\n]+)")?/g;
  for (const m of markdown.matchAll(re)) {
    const cited = m[0].replace(/[ ,]+"[^"]*"$/, '');
    found.push({ file, line: markdown.slice(0, m.index).split('\n').length, cited, ...(m[1] ? { title: m[1] } : {}) });
  }
  return found;
}

/** What a citation points at on disk: the path itself, or the shorthand without `.test.ts`. */
function resolveCitation(cited: string): string | undefined {
  for (const candidate of [cited, `${cited}.test.ts`]) if (existsSync(path.join(ROOT, candidate))) return candidate;
  return undefined;
}

describe('the docs cite tests that exist', () => {
  const all = markdownFiles().flatMap((f) => citations(f, readFileSync(path.join(ROOT, f), 'utf8')));

  it('finds the citations (a parser that finds none would pass anything)', () => {
    assert.ok(all.length >= 50, `only ${all.length} citations found`);
    assert.ok(all.filter((c) => c.title).length >= 10, 'quoted test titles are found');
  });

  it('every cited test file exists', () => {
    const missing = all.filter((c) => !resolveCitation(c.cited)).map((c) => `${c.file}:${c.line} ${c.cited}`);
    assert.deepEqual(missing, [], 'cited, but not in the repository');
  });

  it('every quoted test title is in the file it is cited from', () => {
    const missing = all
      .filter((c) => c.title)
      .filter((c) => {
        const target = resolveCitation(c.cited);
        return !target || !readFileSync(path.join(ROOT, target), 'utf8').includes(c.title!);
      })
      .map((c) => `${c.file}:${c.line} ${c.cited} "${c.title}"`);
    assert.deepEqual(missing, [], 'the title is not in the cited file');
  });

  it('reads shorthand, titles and sentence punctuation the way the docs write them', () => {
    const found = citations('README.md', 'see (test/fault/storm.test.ts, test/fault/postgres-outage). And test/workflows/races.test.ts "a flapping alert", done.');
    assert.deepEqual(
      found.map((c) => [c.cited, c.title]),
      [
        ['test/fault/storm.test.ts', undefined],
        ['test/fault/postgres-outage', undefined],
        ['test/workflows/races.test.ts', 'a flapping alert'],
      ],
    );
    assert.equal(resolveCitation('test/fault/postgres-outage'), 'test/fault/postgres-outage.test.ts');
    assert.equal(resolveCitation('test/unit/no-such-thing.test.ts'), undefined);
  });
});
