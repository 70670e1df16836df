import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from '@temporalio/worker';
import { parse } from 'yaml';
import { buildAgentWorker } from '../../src/agent.js';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { selfheal, type Run } from '../helpers/cli.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { ADMIN_TOKEN, eventually, startStack, type Stack } from '../helpers/stack.js';

// Whoever writes a PagerDuty incident (title, custom details) or makes a remediation script print
// something decides bytes the SRE's `selfheal` writes to a terminal. The real CLI against a real API:
// ESC/CSI/OSC sequences, C1 controls, bare CR, BS, DEL and bidi overrides in those texts come out as
// visible escapes, tables keep one line per row, and --json / YAML still parse to exactly the data.

const ESC = '\x1b';
/** Rewrites the line as a green RESOLVED, sets the window title, writes the clipboard (OSC 52), a hidden OSC 8 link, a C1 CSI, a bidi override. */
const TITLE =
  `disk full on db-1${ESC}[2K\r${ESC}[32mRESOLVED${ESC}[0m ${ESC}]0;pwned\x07${ESC}]52;c;cm0gLXJmIH4=\x07` +
  `${ESC}]8;;https://evil.example/${ESC}\\click${ESC}]8;;${ESC}\\ \u009b31m c1 \u202egnp.exe\u202c \u2066iso\u2069 bs\b\x7f tab\there\nsecond line`;
const DETAIL = `eu-west-1${ESC}[1A${ESC}[2K\u202e`;
// The script prints a failure, then tries to erase it and print a success, on stdout and stderr.
const SCRIPT = [
  '#!/bin/sh',
  "printf 'restart FAILED\\033[1A\\033[2K\\r\\033[32mrestart OK\\033[0m\\n'",
  "printf 'err \\033]52;c;aGk=\\007 \\302\\233 2J \\342\\200\\256 reversed\\r overwritten\\n' >&2",
  'exit 3',
].join('\n');

/** What no terminal must receive from data: ESC, other C0 but tab/newline, DEL, C1, bare CR, bidi controls. */
function assertInert(what: string, text: string): void {
  // eslint-disable-next-line no-control-regex -- looking for control characters is the point
  const bad = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/u.exec(text.replace(/\r\n/g, '\n'));
  assert.equal(bad, null, `${what} holds U+${bad?.[0].codePointAt(0)?.toString(16).padStart(4, '0')} at ${bad?.index}: ${JSON.stringify(text.slice(Math.max(0, (bad?.index ?? 0) - 40), (bad?.index ?? 0) + 20))}`);
}

const inert = (what: string, r: Run) => {
  assertInert(`${what} stdout`, r.stdout);
  assertInert(`${what} stderr`, r.stderr);
};

describe('selfheal CLI writes server-provided text to the terminal inert', function () {
  let stack: Stack;
  let server: ApiServer;
  let pd: PagerDutyPeer;
  let agent: Worker;
  let agentRunning: Promise<void>;
  let scriptsDir: string;
  let env: Record<string, string>;
  let incidentId: string;
  let ruleName: string;
  const environment = `cli-term-${randomUUID().slice(0, 6)}`;

  before(async function () {
    pd = await startPagerDutyPeer({ token: 'pd-test-token-term' });
    stack = await startStack({ env: { PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: 'pd-test-token-term', PAGERDUTY_FROM_EMAIL: 'selfheal@example.com' } });
    server = await startApiServer({ config: { ...stack.config, port: 0, host: '127.0.0.1' }, db: stack.db.db, temporal: stack.temporal.client, logger: createLogger({ level: 'silent' }) });
    env = { SELFHEAL_URL: server.url, SELFHEAL_TOKEN: ADMIN_TOKEN };
    scriptsDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-term-cli-'));
    await chmod(scriptsDir, 0o755);
    await writeFile(path.join(scriptsDir, 'hostile.sh'), `${SCRIPT}\n`, { mode: 0o755 });
    const res = await stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name: environment, labels: {} }) });
    assert.equal(res.status, 201, await res.clone().text());
    agent = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment, scriptsDir });
    agentRunning = agent.run();

    const svc = newServiceId();
    ruleName = `term-${randomUUID().slice(0, 6)}`;
    await insertRule(stack.db.db, {
      name: ruleName,
      services: [svc],
      actions: [
        { id: 'fix', type: 'script.agent', script: 'hostile.sh' },
        { id: 'note', type: 'pagerduty.note', when: 'always', content: `noted${ESC}[2J\u202e` },
      ],
    } as never);
    incidentId = newIncidentId();
    pd.seedAlerts(incidentId, [
      { id: `A${randomUUID().slice(0, 8)}`, type: 'alert', summary: 'disk', body: { type: 'alert_body', details: { environment, host: 'db-1', region: DETAIL } } },
    ]);
    const delivered = await stack.deliver(sampleFor('v3-incident.triggered-01.json', incidentId, { data: { title: TITLE, service: { id: svc, type: 'service_reference', summary: 's' } } }));
    assert.equal(delivered.status, 202);
    await eventually(async () => {
      const runs = await stack.db.db.selectFrom('action_runs').select(['finished_at', 'output_excerpt']).where('incident_id', '=', incidentId).execute();
      return runs.length === 2 && runs.every((r) => r.finished_at) ? runs : undefined;
    }, 60_000, 'both action runs to finish');
  });

  after(async function () {
    agent?.shutdown();
    await agentRunning;
    await server?.close();
    await stack?.stop();
    await pd?.close();
    if (scriptsDir) await rm(scriptsDir, { recursive: true, force: true });
  });

  it('incidents list: a hostile title is one visible cell of its own row, with no control character', async function () {
    const list = await selfheal(['incidents', 'list'], env);
    assert.equal(list.code, 0, list.stderr);
    inert('incidents list', list);
    const row = list.stdout.split('\n').find((l) => l.startsWith(`${incidentId}\t`));
    assert.ok(row, list.stdout);
    const cells = row.split('\t');
    assert.equal(cells.length, 7, `one row of 7 cells: ${JSON.stringify(row)}`);
    assert.equal(
      cells[6],
      'disk full on db-1\\u001b[2K\\r\\u001b[32mRESOLVED\\u001b[0m \\u001b]0;pwned\\u0007\\u001b]52;c;cm0gLXJmIH4=\\u0007' +
        '\\u001b]8;;https://evil.example/\\u001b\\\\click\\u001b]8;;\\u001b\\\\ \\u009b31m c1 \\u202egnp.exe\\u202c \\u2066iso\\u2069 bs\\b\\u007f tab\\there\\nsecond line',
    );
  });

  it('incidents show: title, custom details, script output and error texts are shown as escapes, not run', async function () {
    const show = await selfheal(['incidents', 'show', incidentId], env);
    assert.equal(show.code, 0, show.stderr);
    inert('incidents show', show);
    const lines = show.stdout.split('\n');
    assert.match(lines[0]!, new RegExp(`^${incidentId}  #\\d+  disk full on db-1\\\\u001b\\[2K\\\\r.*\\\\nsecond line$`), 'the title on the first line, whole');
    assert.match(show.stdout, /region=eu-west-1\\u001b\[1A\\u001b\[2K\\u202e/);
    assert.match(show.stdout, /fix \(script\.agent\): failed exit 3/);
    // The server keeps a script's output and error without their terminal escape sequences (a C1 control
    // shown as U+FFFD: src/domain/agent-result.ts); what is left, a CR and a bidi override, the CLI shows as escapes.
    assert.match(show.stdout, /\| restart FAILED\\rrestart OK/, 'the failure stays readable');
    assert.match(show.stdout, /err {2}\uFFFD 2J \\u202e reversed\\r overwritten/);
  });

  it('--json stays exact: it parses to the very strings the server holds, and still carries no raw C1 or bidi control', async function () {
    const show = await selfheal(['incidents', 'show', incidentId, '--json'], env);
    assert.equal(show.code, 0, show.stderr);
    inert('incidents show --json', show);
    const fromCli = JSON.parse(show.stdout) as unknown;
    const fromApi = (await (await stack.api(`/api/incidents/${incidentId}`)).json()) as { title: string; environment: Record<string, string> };
    assert.equal(fromApi.title, TITLE);
    assert.equal(fromApi.environment.region, DETAIL);
    assert.deepEqual(fromCli, fromApi);
    const list = await selfheal(['incidents', 'list', '--json'], env);
    inert('incidents list --json', list);
    assert.equal((JSON.parse(list.stdout) as { id: string; title: string }[]).find((i) => i.id === incidentId)?.title, TITLE);
  });

  it('rules get prints YAML that shows escapes and still parses to the stored rule', async function () {
    const got = await selfheal(['rules', 'get', ruleName], env);
    assert.equal(got.code, 0, got.stderr);
    inert('rules get', got);
    const rule = parse(got.stdout) as { actions: { id: string; content?: string }[] };
    assert.equal(rule.actions.find((a) => a.id === 'note')?.content, `noted${ESC}[2J\u202e`);
  });
});
