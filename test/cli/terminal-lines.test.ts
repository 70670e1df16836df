import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { parse } from 'yaml';
import type { Io } from '../../src/cli/context.js';
import { linePerWrite, neutralise, oneLine, printJson, terminalSafe } from '../../src/cli/output.js';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { selfheal } from '../helpers/cli.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { ADMIN_TOKEN, eventually, startStack, type Stack } from '../helpers/stack.js';

// Two ways server text could still mislead the SRE after test/cli/terminal-output.test.ts:
// - a newline in a value printed inside a plain line (a PagerDuty service name or custom detail in
//   `incidents show`) started a line of its own, so a payload could add a fake line such as an action
//   that succeeded;
// - a backslash was written as it is, so a title holding the six characters `\u001b` looked exactly like
//   a title holding a real ESC shown escaped.
// The real CLI against a real API; --json and the YAML stay exact.

const ESC = '\x1b';
/** What a forged line would say: the action line `incidents show` prints for a run that succeeded. */
const FAKE_ACTION = '  fix (script.agent): succeeded exit 0';
const FAKE_STATUS = 'status resolved, urgency low, service payments, created 2026-12-01T00:00:00.000Z';
const LITERAL = 'backslash-u text \\u001b[31m, a path C:\\new';
const REAL = `a real ESC ${ESC}[31m, a path C:\\new`;

/** Captures what main() or a command would write, one entry per write. */
function capture(): { io: Io; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t) => out.push(t), err: (t) => err.push(t), env: {} }, out, err };
}

describe('selfheal CLI output: a value never starts a line, and a backslash is escaped too', function () {
  describe('the escapes of src/cli/output.ts', function () {
    it('a literal backslash-u text and a real ESC are shown differently', function () {
      assert.equal(neutralise('\\u001b'), '\\\\u001b');
      assert.equal(neutralise(ESC), '\\u001b');
      assert.notEqual(neutralise(LITERAL.replace('backslash-u text ', '')), neutralise(REAL.replace('a real ESC ', '')));
      assert.equal(oneLine('C:\\new\nnext\tcell'), 'C:\\\\new\\nnext\\tcell');
    });

    it('a command writes one line per write: a newline in a value is \\n, the text before and after stays on that line', function () {
      const c = capture();
      const { io } = linePerWrite({ io: terminalSafe(c.io) });
      io.out(`region=eu-west-1\n${FAKE_ACTION}`);
      io.err(`error: bad\r\n${FAKE_STATUS}`);
      assert.deepEqual(c.out, [`region=eu-west-1\\n${FAKE_ACTION}`]);
      assert.deepEqual(c.err, [`error: bad\\r\\n${FAKE_STATUS}`]);
    });

    it('JSON written by a command still parses to the very values, backslashes and controls included', function () {
      const c = capture();
      const { io } = linePerWrite({ io: terminalSafe(c.io) });
      const value = { literal: LITERAL, real: REAL, lines: `one\n${FAKE_ACTION}`, c1: '\u009b2J \u202e' };
      printJson(io, value);
      assert.equal(c.out.length, 1);
      assert.deepEqual(JSON.parse(c.out[0]!), value);
      for (const raw of [ESC, '\u009b', '\u202e']) assert.ok(!c.out[0]!.includes(raw), `raw U+${raw.charCodeAt(0).toString(16)} in ${c.out[0]}`);
    });
  });

  describe('the real CLI against a real API', function () {
    let stack: Stack;
    let server: ApiServer;
    let pd: PagerDutyPeer;
    let env: Record<string, string>;
    let forged: string;
    let literal: string;
    let real: string;
    let ruleName: string;
    const environment = `cli-lines-${randomUUID().slice(0, 6)}`;

    before(async function () {
      pd = await startPagerDutyPeer({ token: 'pd-test-token-lines' });
      stack = await startStack({ env: { PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: 'pd-test-token-lines', PAGERDUTY_FROM_EMAIL: 'selfheal@example.com' } });
      server = await startApiServer({ config: { ...stack.config, port: 0, host: '127.0.0.1' }, db: stack.db.db, temporal: stack.temporal.client, logger: createLogger({ level: 'silent' }) });
      env = { SELFHEAL_URL: server.url, SELFHEAL_TOKEN: ADMIN_TOKEN };
      const svc = newServiceId();
      ruleName = `lines-${randomUUID().slice(0, 6)}`;
      await insertRule(stack.db.db, {
        name: ruleName,
        services: [svc],
        actions: [
          { id: 'literal', type: 'pagerduty.note', content: LITERAL },
          { id: 'real', type: 'pagerduty.note', content: REAL },
        ],
      } as never);
      const deliver = async (title: string, serviceName: string, region: string) => {
        const id = newIncidentId();
        pd.seedAlerts(id, [
          { id: `A${randomUUID().slice(0, 8)}`, type: 'alert', summary: 'disk', body: { type: 'alert_body', details: { environment, host: 'db-1', region } } },
        ]);
        const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { title, service: { id: svc, type: 'service_reference', summary: serviceName } } }));
        assert.equal(res.status, 202);
        return id;
      };
      forged = await deliver('disk full on db-1', `payments\n${FAKE_STATUS}`, `eu-west-1\nactions:\n${FAKE_ACTION}`);
      literal = await deliver(LITERAL, 'payments', 'eu-west-1');
      real = await deliver(REAL, 'payments', 'eu-west-1');
      await eventually(async () => {
        const runs = await stack.db.db.selectFrom('action_runs').select(['finished_at']).where('incident_id', 'in', [forged, literal, real]).execute();
        return runs.length === 6 && runs.every((r) => r.finished_at) ? runs : undefined;
      }, 60_000, 'the note actions of the three incidents to finish');
    });

    after(async function () {
      await server?.close();
      await stack?.stop();
      await pd?.close();
    });

    it('incidents show: a service name or custom detail holding newlines stays inside its line and forges no line', async function () {
      const show = await selfheal(['incidents', 'show', forged], env);
      assert.equal(show.code, 0, show.stderr);
      const lines = show.stdout.trimEnd().split('\n');
      assert.ok(!lines.includes(FAKE_STATUS), `a forged status line:\n${show.stdout}`);
      assert.ok(!lines.includes(FAKE_ACTION), `a forged action line:\n${show.stdout}`);
      assert.equal(lines.filter((l) => l === 'actions:').length, 1, `one actions: heading:\n${show.stdout}`);
      assert.match(lines[1]!, new RegExp(`^status triggered, .*service payments\\\\n${FAKE_STATUS.replace(/[.]/g, '\\.')}, created `));
      assert.ok(lines.some((l) => l.startsWith('environment: ') && l.includes(`region=eu-west-1\\nactions:\\n${FAKE_ACTION}`)), show.stdout);
      const fromApi = (await (await stack.api(`/api/incidents/${forged}`)).json()) as { service: { name: string }; environment: Record<string, string> };
      assert.equal(fromApi.service.name, `payments\n${FAKE_STATUS}`, 'the server holds the newlines: the CLI shows them escaped');
      assert.equal(fromApi.environment.region, `eu-west-1\nactions:\n${FAKE_ACTION}`);
    });

    it('incidents list and show: a literal backslash-u text and a real ESC look different, and --json parses to each exactly', async function () {
      const list = await selfheal(['incidents', 'list'], env);
      assert.equal(list.code, 0, list.stderr);
      const title = (id: string) => list.stdout.split('\n').find((l) => l.startsWith(`${id}\t`))?.split('\t')[6];
      assert.equal(title(literal), 'backslash-u text \\\\u001b[31m, a path C:\\\\new');
      assert.equal(title(real), 'a real ESC \\u001b[31m, a path C:\\\\new');
      const show = await selfheal(['incidents', 'show', literal], env);
      assert.ok(show.stdout.split('\n')[0]!.endsWith('  backslash-u text \\\\u001b[31m, a path C:\\\\new'), show.stdout);
      for (const [id, text] of [[literal, LITERAL], [real, REAL]] as const) {
        const json = await selfheal(['incidents', 'show', id, '--json'], env);
        assert.equal(json.code, 0, json.stderr);
        assert.equal((JSON.parse(json.stdout) as { title: string }).title, text);
      }
    });

    it('rules get: the YAML still parses to the stored backslashes and ESC, and --json too', async function () {
      const yaml = await selfheal(['rules', 'get', ruleName], env);
      assert.equal(yaml.code, 0, yaml.stderr);
      const contents = (text: string) => Object.fromEntries((parse(text) as { actions: { id: string; content: string }[] }).actions.map((a) => [a.id, a.content]));
      assert.deepEqual(contents(yaml.stdout), { literal: LITERAL, real: REAL });
      const json = await selfheal(['rules', 'get', ruleName, '--json'], env);
      assert.equal(json.code, 0, json.stderr);
      assert.deepEqual(contents(json.stdout), { literal: LITERAL, real: REAL });
    });
  });
});
