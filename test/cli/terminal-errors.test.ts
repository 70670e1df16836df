import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { selfheal } from '../helpers/cli.js';

// The message of a failed command, after test/cli/terminal-lines.test.ts: main() printed it with its
// line breaks, and it quotes the server (a problem's title, detail and field errors, PagerDuty's error
// text), so a server, a proxy in between or anyone who gets text into a problem detail could add a
// forged line to stderr. The real CLI against a local HTTP peer answering crafted problems: the
// server's text stays on its line (a newline or CR is \n / \r, a backslash \\), while the CLI's own line
// breaks stay (one line per field error, a usage error listing the problems of the files).

/** What a forged line would say. */
const FORGED = 'rule applied: 3 actions succeeded';

interface Answer {
  status: number;
  type: string;
  body: unknown;
}

/** A local HTTP server answering each path with its crafted answer (404 otherwise). */
async function startPeer(answers: Record<string, Answer>): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    req.resume();
    const answer = answers[new URL(req.url ?? '/', 'http://peer').pathname];
    res.writeHead(answer?.status ?? 404, { 'content-type': answer?.type ?? 'application/problem+json' });
    res.end(JSON.stringify(answer?.body ?? { title: 'Not Found', status: 404 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const stderrLines = (stderr: string) => stderr.replace(/\n$/, '').split('\n');

describe('selfheal CLI: a failed command prints the server text it quotes on its line', function () {
  let peer: Awaited<ReturnType<typeof startPeer>>;
  let env: Record<string, string>;
  let dir: string;

  before(async function () {
    peer = await startPeer({
      // A validation problem whose title, detail and field errors carry line breaks, a CR and a backslash.
      '/api/rules': {
        status: 422,
        type: 'application/problem+json',
        body: {
          type: 'about:blank',
          title: `Invalid rule\n${FORGED}`,
          status: 422,
          detail: `name C:\\new\r\n${FORGED}`,
          errors: [
            { path: 'actions.0.args.0', message: `must not start with '-'\n${FORGED}` },
            { path: `name\n${FORGED}`, message: 'too long' },
          ],
        },
      },
      // A server error (exit 3) with a detail only.
      '/api/incidents': { status: 503, type: 'application/problem+json', body: { title: 'Unavailable', status: 503, detail: `database down\n${FORGED}\n` } },
      // PagerDuty's REST API refusing a request, its message and errors[] with line breaks.
      '/pd/webhook_subscriptions': {
        status: 400,
        type: 'application/json',
        body: { error: { message: `Invalid Input Provided\n${FORGED}`, code: 2001, errors: [`filter_id\n${FORGED}`] } },
      },
    });
    env = { SELFHEAL_URL: peer.url, SELFHEAL_TOKEN: 'a-token-the-peer-takes' };
    dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-term-errors-'));
  });

  after(async function () {
    await peer?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("an API problem: its title, detail and field errors each stay on their line, one line per field error as the CLI lays it out", async function () {
    const run = await selfheal(['rules', 'list'], env);
    assert.equal(run.code, 2, run.stderr);
    assert.equal(run.stdout, '');
    const lines = stderrLines(run.stderr);
    assert.ok(!lines.includes(FORGED), `a forged line:\n${run.stderr}`);
    assert.deepEqual(lines, [
      `GET /api/rules?limit=500 failed: 422 Invalid rule\\n${FORGED}: name C:\\\\new\\r\\n${FORGED}`,
      `  actions.0.args.0: must not start with '-'\\n${FORGED}`,
      `  name\\n${FORGED}: too long`,
    ]);
  });

  it('a server error (exit 3): a newline in its detail is \\n, trailing one included', async function () {
    const run = await selfheal(['incidents', 'list'], env);
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stderr, new RegExp(`^GET /api/incidents\\S* failed: 503 Unavailable: database down\\\\n${FORGED}\\\\n\\n$`));
  });

  it("a PagerDuty API error: PagerDuty's message and errors stay on the one line of the message", async function () {
    const run = await selfheal(['pagerduty', 'list', '--pagerduty-api-url', `${peer.url}/pd`], { ...env, PAGERDUTY_API_TOKEN: 'pd-token' });
    assert.equal(run.code, 2, run.stderr);
    const lines = stderrLines(run.stderr);
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, /^listing webhook subscriptions: PagerDuty API GET \/webhook_subscriptions failed with 400: /);
    assert.ok(lines[0]!.endsWith(`: Invalid Input Provided\\n${FORGED} (filter_id\\n${FORGED})`), run.stderr);
  });

  it("the CLI's own multi-line message keeps its line breaks: a usage error lists each problem of the files on a line", async function () {
    const file = path.join(dir, 'objects.yaml');
    await writeFile(file, '- name: a\n- name: b\n');
    const run = await selfheal(['diff', '-f', file], env);
    assert.equal(run.code, 2, run.stderr);
    assert.deepEqual(stderrLines(run.stderr), [
      'the files are not valid:',
      `  ${file}, object 1: "kind" is required (Environment, Job, Rule)`,
      `  ${file}, object 2: "kind" is required (Environment, Job, Rule)`,
    ]);
  });
});
