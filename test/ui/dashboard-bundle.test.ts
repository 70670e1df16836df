import assert from 'node:assert/strict';
import ts from 'typescript';
import { buildDashboard, CLIENT_DIR, forbiddenInputs } from '../../src/dashboard/bundle.js';
import { httpUrl, scheduleText } from '../../src/dashboard/client/format.js';
import { cruise } from '../helpers/depcruise.js';

const CLIENT_TSCONFIG = `${CLIENT_DIR}tsconfig.json`;

/** Type-checks the client project as `npm run typecheck` does, optionally with one more (virtual) file in it. */
function typeCheckClient(extra?: { fileName: string; text: string }): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(CLIENT_TSCONFIG, {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  assert.ok(config, 'the client tsconfig parses');
  const host = ts.createCompilerHost(config.options);
  if (extra) {
    const { getSourceFile, fileExists, readFile } = host;
    host.getSourceFile = (name, lang, ...rest) => (name === extra.fileName ? ts.createSourceFile(name, extra.text, lang) : getSourceFile.call(host, name, lang, ...rest));
    host.fileExists = (name) => name === extra.fileName || fileExists.call(host, name);
    host.readFile = (name) => (name === extra.fileName ? extra.text : readFile.call(host, name));
  }
  const program = ts.createProgram({ rootNames: [...config.fileNames, ...(extra ? [extra.fileName] : [])], options: config.options, host });
  return ts.getPreEmitDiagnostics(program).map((d) => `${d.file ? `${d.file.fileName}: ` : ''}${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
}

// The dashboard's browser code is real source: type-checked against the DOM, linted, and bundled with
// only its own modules. Each check is shown failing on a deliberate mistake.
describe('dashboard client: type check, import rules and bundle', function () {
  this.timeout(300_000); // a full type check and lint on a busy machine

  it('type-checks against the DOM library, where Node globals and type errors are refused', function () {
    assert.deepEqual(typeCheckClient(), []);
    const errors = typeCheckClient({
      fileName: `${CLIENT_DIR}probe.ts`,
      text: "import { h } from './dom.js';\nexport const a: number = h('div').textContent;\nexport const b = process.env.SECRET;\nexport const c = h('not-a-tag');\n",
    });
    assert.equal(errors.length, 3, errors.join('\n'));
    assert.match(errors.join('\n'), /Type 'string' is not assignable to type 'number'/);
    assert.match(errors.join('\n'), /Cannot find name 'process'/);
    assert.match(errors.join('\n'), /'"not-a-tag"' is not assignable/);
  });

  it('lint (depcruise) lets the client import only its own modules, src/contracts, domain types and uplot', function () {
    this.timeout(60_000);
    const code = [
      "import { h } from '../dom.js';", // own module: allowed
      "import type { JobDefinition } from '../../../domain/jobs.js';", // domain type: allowed (stands-alone: not a path)
      "import { JOB_WORKFLOW } from '../../../contracts/names.js';", // contracts: allowed (stands-alone: not a path)
      "import uPlot from 'uplot';", // the one vetted package: allowed
      "import { parseDuration } from '../../../domain/jobs.js';", // domain value (stands-alone: not a path)
      "import { createApp } from '../../../api/app.js';", // server module (stands-alone: not a path)
      "import { dashboardBundle } from '../../bundle.js';", // server side of the dashboard
      "import { parse } from 'yaml';", // a package
      "import { readFileSync } from 'node:fs';", // a Node built-in
      'export const all: unknown[] = [h, JOB_WORKFLOW, uPlot, parseDuration, createApp, dashboardBundle, parse, readFileSync];',
      'export type J = JobDefinition;',
    ].join('\n');
    const run = cruise({ 'src/dashboard/client/views/__probe.ts': code });
    assert.notEqual(run.status, 0);
    const refused = run.violations.filter((v) => v.from === 'src/dashboard/client/views/__probe.ts').map((v) => `${v.rule} ${v.to.replace(/^(node_modules\/[^/]+)\/.*$/, '$1')}`).sort();
    assert.deepEqual(refused, [
      'dashboard-client-browser-only src/api/app.ts',
      'dashboard-client-browser-only src/dashboard/bundle.ts',
      'dashboard-client-domain-types-only src/domain/jobs.ts',
      'dashboard-client-no-packages fs',
      'dashboard-client-no-packages node_modules/yaml',
    ], run.output);
  });

  it('bundles only client modules into a hashed script and stylesheet with source maps', async function () {
    const bundle = await buildDashboard();
    assert.match(bundle.script, /^\/ui\/assets\/app\.[A-Z0-9]{8}\.js$/);
    assert.match(bundle.stylesheet, /^\/ui\/assets\/app\.[A-Z0-9]{8}\.css$/);
    assert.ok(bundle.inputs.includes('src/dashboard/client/main.ts') && bundle.inputs.includes('src/dashboard/client/app.css'), bundle.inputs.join(', '));
    assert.deepEqual(forbiddenInputs(bundle.inputs), []);
    assert.ok(!bundle.inputs.some((i) => i.startsWith('src/domain/')), 'domain types leave no code in the bundle');

    const script = new TextDecoder().decode(bundle.assets.get(bundle.script.split('/').pop()!)!.body);
    const map = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(script)?.[1];
    assert.ok(map && bundle.assets.has(map), `the script names its source map (${map})`);
    assert.ok(!/\beval\(|new Function\(/.test(script), 'nothing the CSP would refuse');
    // The whole client fits in a few tens of kilobytes.
    assert.ok(script.length < 100_000, `script is ${script.length} bytes`);
  });

  it('refuses a bundle that pulls in server code, domain code or a package', async function () {
    const attempts: [string, RegExp][] = [
      ["import { problem } from '../../api/problem.js'; console.log(problem);", /src\/api\/problem\.ts/],
      ["import { parseDuration } from '../../domain/jobs.js'; console.log(parseDuration('1h'));", /src\/domain\/jobs\.ts/],
      ["import { parse } from 'yaml'; console.log(parse('a: 1'));", /node_modules\/yaml\//],
    ];
    for (const [contents, names] of attempts) {
      await assert.rejects(buildDashboard({ entry: { contents } }), (err: Error) => {
        assert.match(err.message, /the dashboard bundle may only contain/);
        assert.match(err.message, names);
        return true;
      });
    }
    // Type-only imports of the domain are erased: accepted.
    const ok = await buildDashboard({ entry: { contents: "import type { JobDefinition } from '../../domain/jobs.js'; export const none: JobDefinition | null = null;" } });
    assert.deepEqual(forbiddenInputs(ok.inputs), []);
    // And esbuild's own errors fail the build.
    await assert.rejects(buildDashboard({ entry: { contents: "import './nowhere.js';" } }), /Could not resolve "\.\/nowhere\.js"/);
  });

  it('renders links from data only when they are http(s), and schedules in words', function () {
    assert.equal(httpUrl('https://acme.pagerduty.com/incidents/Q1'), 'https://acme.pagerduty.com/incidents/Q1');
    assert.equal(httpUrl('http://localhost:8233/namespaces/default/workflows/incident-Q1'), 'http://localhost:8233/namespaces/default/workflows/incident-Q1');
    for (const bad of ['javascript:alert(1)', 'JavaScript:alert(1)', ' javascript:alert(1)', 'data:text/html,<script>alert(1)</script>', 'vbscript:x', '/relative', '//evil.example/x', '', null, undefined]) {
      assert.equal(httpUrl(bad), undefined, String(bad));
    }
    assert.equal(scheduleText({ interval: '6h' }), 'every 6h');
    assert.equal(scheduleText({ interval: 'every 1h offset 15m' }), 'every 1h offset 15m');
    assert.equal(scheduleText({ cron: '0 6 * * MON-FRI', timezone: 'Europe/Paris' }), 'cron 0 6 * * MON-FRI (Europe/Paris)');
  });
});
