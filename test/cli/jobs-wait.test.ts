import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { selfheal } from '../helpers/cli.js';

// `selfheal jobs trigger --wait` follows the run its trigger started, and exits with that run's outcome: not
// the first new run it sees, which may be one the schedule took on its own meanwhile, or another person's.
// A local peer answers as the API does (the real path, end to end, is in test/cli/ops-cli.test.ts).

interface Run {
  id: string;
  trigger: string;
  status: string;
  scheduledAt: string | null;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  temporalUrl: string;
  targets: unknown[];
}

async function startApi(afterTrigger: Run[], answer: { runId: string | null; triggeredAt: string }): Promise<{ url: string; close: () => Promise<void> }> {
  let triggered = false;
  const server: Server = createServer((req, res) => {
    req.resume();
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url?.startsWith('/api/jobs/nightly/runs')) return json(200, { items: triggered ? afterTrigger : [] });
    if (req.method === 'POST' && req.url === '/api/jobs/nightly/trigger') {
      triggered = true;
      return json(202, { jobId: 'nightly', triggered: true, ...answer });
    }
    return json(404, { title: 'Not Found', status: 404 });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const run = (id: string, trigger: string, status: string, scheduledAt: string | null): Run => ({
  id,
  trigger,
  status,
  scheduledAt,
  startedAt: scheduledAt ?? '2026-12-02T06:00:01.000Z',
  finishedAt: '2026-12-02T06:00:09.000Z',
  durationMs: 8000,
  temporalUrl: `http://localhost:8233/namespaces/default/workflows/${id}`,
  targets: [],
});

describe('selfheal jobs trigger --wait: the run it follows', function () {
  it('through the schedule: the run taken at or after the trigger, not one the schedule took on its own just before', async function () {
    const api = await startApi(
      [
        // Newest first, as the API lists them: another person's run by hand, then ours, then the schedule's own.
        run('jobrun-nightly-manual-2026-12-02T06:00:02.500Z', 'manual', 'failed', null),
        run('jobrun-nightly-2026-12-02T06:00:01Z', 'schedule', 'succeeded', '2026-12-02T06:00:01.000Z'),
        run('jobrun-nightly-2026-12-02T06:00:00Z', 'schedule', 'failed', '2026-12-02T06:00:00.000Z'),
      ],
      { runId: null, triggeredAt: '2026-12-02T06:00:01.000Z' },
    );
    try {
      const r = await selfheal(['jobs', 'trigger', 'nightly', '--wait', '--timeout', '20', '--json'], { SELFHEAL_URL: api.url, SELFHEAL_TOKEN: 't' });
      assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
      assert.equal((JSON.parse(r.stdout) as { run: { id: string } }).run.id, 'jobrun-nightly-2026-12-02T06:00:01Z');
    } finally {
      await api.close();
    }
  });

  it('a run the API started itself (a paused job): the one it named', async function () {
    const api = await startApi(
      [run('jobrun-nightly-manual-2026-12-02T06:00:03.000Z', 'manual', 'failed', null), run('jobrun-nightly-manual-2026-12-02T06:00:02.000Z', 'manual', 'succeeded', null)],
      { runId: 'jobrun-nightly-manual-2026-12-02T06:00:02.000Z', triggeredAt: '2026-12-02T06:00:02.000Z' },
    );
    try {
      const r = await selfheal(['jobs', 'trigger', 'nightly', '--wait', '--timeout', '20'], { SELFHEAL_URL: api.url, SELFHEAL_TOKEN: 't' });
      assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /^nightly: succeeded/);
    } finally {
      await api.close();
    }
  });
});
