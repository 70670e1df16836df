// The repository stands alone: no code, test, benchmark or tool reads a path outside it, and no
// comment or doc sends the reader to a document that is not in it. Fixtures the tests need are
// copied under test/fixtures/ with their source noted (see test/fixtures/pagerduty/README.md).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Folders whose files may not read outside the repository, and loose files at the top. */
const CODE = ['src', 'workflows', 'activities', 'test', 'bench', 'tools', 'bin', 'scripts', '.ci'];
// eslint.config.js is left out: its import patterns are relative to the linted file, not to the config.
const CODE_FILES = ['package.json', '.mocharc.json', 'tsconfig.json', 'Dockerfile', 'docker-compose.yml'];
/** Where a mention of a Markdown file must name a document of the repository. */
const PROSE = [...CODE, 'docs', 'deploy', 'examples'];
const PROSE_FILES = [...CODE_FILES, 'README.md', '.env.example'];
/** Upstream material kept verbatim, and generated or downloaded trees. */
const GENERATED = ['node_modules', '.git', '.data', 'test-artifacts'];
const SKIP = new Set([...GENERATED, path.join('test', 'fixtures'), path.join('bench', 'results')]);
const TEXT = /\.(ts|js|cjs|mjs|json|sh|md|ya?ml|txt|service|conf)$|^(Dockerfile|run|\.env\.example)$/;
/** A line may say why a string that looks like an outside path is not one (e.g. an attack input). */
const NOT_A_PATH = 'stands-alone: not a path';

function filesUnder(folders: string[], loose: string[], skip: Set<string> = SKIP): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    if (skip.has(rel)) return;
    let stat;
    try {
      stat = statSync(path.join(ROOT, rel));
    } catch {
      return;
    }
    if (stat.isDirectory()) {
      for (const name of readdirSync(path.join(ROOT, rel))) walk(path.join(rel, name));
    } else if (TEXT.test(path.basename(rel))) {
      out.push(rel);
    }
  };
  for (const rel of [...folders, ...loose]) walk(rel);
  return out;
}

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

function outside(resolved: string): boolean {
  const rel = path.relative(ROOT, resolved);
  return rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel);
}

/** Relative paths that leave the repository when resolved from the file's folder, and any relative path to a sibling `shared` folder. */
export function outsidePaths(rel: string, text: string): string[] {
  const found: string[] = [];
  const dir = path.dirname(path.join(ROOT, rel));
  const lines = text.split('\n');
  const sibling = new RegExp(String.raw`(?:\.\./)+shared\b`);
  for (const match of text.matchAll(/(?<![\w./$-])((?:\.\.?\/)+[\w.\-/]*)/g)) {
    const token = match[1]!;
    const line = lineOf(text, match.index);
    if (lines[line - 1]!.includes(NOT_A_PATH)) continue;
    if (outside(path.resolve(dir, token)) || sibling.test(token)) found.push(`${rel}:${line}: ${token} (resolves to ${path.resolve(dir, token)})`);
  }
  return found;
}

function markdownDocuments(): Set<string> {
  return new Set(filesUnder(['.'], [], new Set(GENERATED)).filter((f) => f.endsWith('.md')).map((f) => path.basename(f)));
}

/** Mentions of Markdown files (bare names or paths) whose file name is no document of the repository. */
export function missingDocuments(rel: string, text: string, docs: Set<string>): string[] {
  // Links to other projects' documents are fine: only bare mentions must resolve here.
  const bare = text.replace(/https?:\/\/\S+/g, (url) => ' '.repeat(url.length));
  const found: string[] = [];
  for (const match of bare.matchAll(/(?<![\w./-])((?:[\w.-]+\/)*[\w-]+\.md)\b/g)) {
    if (!docs.has(path.basename(match[1]!))) found.push(`${rel}:${lineOf(bare, match.index)}: ${match[1]}`);
  }
  return found;
}

describe('the repository stands alone', function () {
  it('no file under src, workflows, activities, test, bench or tools reads a path outside the repository', function () {
    const files = filesUnder(CODE, CODE_FILES);
    assert.ok(files.length > 100, `scanned ${files.length} files`);
    const found = files.flatMap((rel) => outsidePaths(rel, readFileSync(path.join(ROOT, rel), 'utf8')));
    assert.deepEqual(
      found,
      [],
      `these read outside the repository; copy what they need under test/fixtures/ with its source noted and read it there (or, for a string that is not a path, add "${NOT_A_PATH}" to the line)`,
    );
  });

  it('every Markdown document a comment or doc mentions is in the repository', function () {
    const docs = markdownDocuments();
    assert.ok(docs.has('README.md') && docs.has('performance.md'));
    const found = filesUnder(PROSE, PROSE_FILES).flatMap((rel) => missingDocuments(rel, readFileSync(path.join(ROOT, rel), 'utf8'), docs));
    assert.deepEqual(found, [], 'these mention documents that are not in the repository; say the rule itself instead');
  });

  it('catches a read of a sibling folder and a mention of a missing document', function () {
    const read = `readFileSync(new URL('${'../'.repeat(3)}shared/x.json', import.meta.url))`;
    assert.equal(outsidePaths('test/unit/x.test.ts', read).length, 1);
    assert.equal(outsidePaths('bench/x.ts', `new URL('${'../'.repeat(2)}shared/x.json', import.meta.url)`).length, 1);
    assert.equal(outsidePaths('test/unit/x.test.ts', `new URL('../fixtures/pagerduty/samples/', import.meta.url)`).length, 0);
    assert.equal(outsidePaths('test/unit/x.test.ts', `${read} // ${NOT_A_PATH}: attack input`).length, 0);
    const docs = markdownDocuments();
    const design = ['DESIGN', 'md'].join('.');
    assert.deepEqual(missingDocuments('src/x.ts', `// as ${design} says`, docs), [`src/x.ts:1: ${design}`]);
    assert.deepEqual(missingDocuments('src/x.ts', `// see docs/runbooks/first-rule.md and https://github.com/o/r/blob/main/${design}`, docs), []);
  });
});
