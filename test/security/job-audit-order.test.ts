import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

// A trigger or a backfill starts runs that run a script on every target: each must be in the audit log.
// Before, the entry was written after Temporal had started the run: a database failure in between left a
// run nobody recorded, and answered 5xx, which a client retried into a second run. Now the entry is
// written, and kept, before Temporal is asked: when it cannot be written, nothing starts. Postgres is made
// to refuse the entry with a trigger on audit_log.
describe('security: a job run never starts without its audit entry', function () {
  this.timeout(120_000);
  let stack: Stack;

  before(async function () {
    stack = await startStack();
  });
  after(async function () {
    await stack?.stop();
  });

  const post = (path: string, body?: unknown) => stack.api(path, { method: 'POST', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const runsOf = async (id: string) => (await stack.db.db.selectFrom('job_runs').select('id').where('job_id', '=', id).execute()).length;
  const auditOf = async (id: string, action: string) => (await stack.db.db.selectFrom('audit_log').select('id').where('entity_id', '=', id).where('action', '=', action).execute()).length;
  async function createJob(name: string, enabled: boolean): Promise<string> {
    const res = await post('/api/jobs', { name, enabled, schedule: { interval: '1h' }, targets: { all: true }, script: 'probe.sh' });
    assert.equal(res.status, 201, await res.clone().text());
    return ((await res.json()) as { id: string }).id;
  }
  async function refuseAuditEntries(on: boolean): Promise<void> {
    if (on) {
      await sql`create or replace function refuse_job_audit() returns trigger language plpgsql as $$
        begin if new.action in ('job.trigger', 'job.backfill') then raise exception 'audit log unavailable'; end if; return new; end $$`.execute(stack.db.db);
      await sql`create trigger refuse_job_audit before insert on audit_log for each row execute function refuse_job_audit()`.execute(stack.db.db);
    } else {
      await sql`drop trigger refuse_job_audit on audit_log`.execute(stack.db.db);
    }
  }

  it('a trigger (by hand on a paused job, or through the schedule) and a backfill start nothing when their entry cannot be written', async function () {
    const paused = await createJob('audit-order-paused', false);
    const enabled = await createJob('audit-order-enabled', true);
    await refuseAuditEntries(true);
    try {
      for (const [id, path, body] of [
        [paused, 'trigger', undefined],
        [enabled, 'trigger', undefined],
        [enabled, 'backfill', { start: new Date(Date.now() - 3 * 3_600_000).toISOString(), end: new Date().toISOString() }],
      ] as const) {
        const res = await post(`/api/jobs/${id}/${path}`, body);
        assert.ok(res.status >= 500, `${path} of ${id}: ${res.status}`);
      }
      // Long enough for a run started by any of them to be recorded by the worker.
      await new Promise((r) => setTimeout(r, 5000));
      assert.deepEqual([await runsOf(paused), await runsOf(enabled)], [0, 0], 'a run started with no audit entry');
    } finally {
      await refuseAuditEntries(false);
    }
    // The same requests with the audit log writable: recorded, and their runs start (what the check above
    // would have seen).
    assert.equal((await post(`/api/jobs/${paused}/trigger`)).status, 202);
    assert.equal((await post(`/api/jobs/${enabled}/trigger`)).status, 202);
    await eventually(async () => (await runsOf(paused)) >= 1 && (await runsOf(enabled)) >= 1, 30_000, 'runs after a writable audit log');
    assert.deepEqual([await auditOf(paused, 'job.trigger'), await auditOf(enabled, 'job.trigger')], [1, 1]);
  });
});
