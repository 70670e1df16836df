import assert from 'node:assert/strict';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { jobDefinitionSchema } from '../../src/domain/jobs.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { stubScheduleClient } from '../helpers/schedule-stub.js';

const ADMIN = 'jobs-ids-admin-token-0123456789abcdef';

describe('jobs API: ids made from names, and names taken in another team', function () {
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  const { temporal } = stubScheduleClient();

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    app = createApp({ config, db: db.db, temporal, logger: createLogger({ level: 'silent' }) }, allRoutes);
  });
  after(async () => db?.close());

  const call = async (token: string, method: string, path: string, body?: unknown) => {
    const res = await app.request(path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> & { id?: string; detail?: string } };
  };
  const job = (name: string, extra: Record<string, unknown> = {}) => ({ name, schedule: { interval: '1h' }, targets: { all: true }, script: 'probe.sh', ...extra });

  // The id made from a long name is already 63 characters; `-2` made it 65, an id the job schema refuses:
  // every run failed on the stored definition, and the job read back could not be saved.
  it('a long name made again after its job was deleted gets an id that fits (63 characters), and the job reads back and saves', async function () {
    const name = 'Nightly cleanup of the orphaned volumes left behind in every production region';
    const first = await call(ADMIN, 'POST', '/api/jobs', job(name));
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.equal(first.body.id!.length, 63);
    for (let n = 2; n <= 11; n++) {
      await db.db.updateTable('jobs').set({ deleted_at: new Date() }).where('name', '=', name).where('deleted_at', 'is', null).execute();
      const again = await call(ADMIN, 'POST', '/api/jobs', job(name));
      assert.equal(again.status, 201, JSON.stringify(again.body));
      const id = again.body.id!;
      assert.ok(id.length <= 63, `${id}: ${id.length} characters`);
      assert.ok(id.endsWith(`-${n}`), id);
      const stored = await db.db.selectFrom('jobs').select('definition').where('id', '=', id).executeTakeFirstOrThrow();
      assert.ok(jobDefinitionSchema.safeParse(stored.definition).success, `${id}: the stored definition is a valid job (its runs read it)`);
      const read = await call(ADMIN, 'GET', `/api/jobs/${id}`);
      const { id: _id, name: readName, schedule, targets, script } = read.body as Record<string, unknown>;
      const put = await call(ADMIN, 'PUT', `/api/jobs/${id}`, { id: _id, name: readName, schedule, targets, script });
      assert.equal(put.status, 200, `${id}: ${JSON.stringify(put.body)}`);
    }
  });

  // Names are unique across teams; the 409 named the job holding it, an id the caller could not read.
  it("a name another team's job holds is a 409 that does not name that job to a caller who cannot read it", async function () {
    for (const team of ['shop', 'pay']) assert.equal((await call(ADMIN, 'POST', '/api/teams', { name: team })).status, 201);
    const issue = async (name: string, teams: string[]) => (await call(ADMIN, 'POST', '/api/tokens', { name, teams })).body.token as string;
    const shop = await issue('shop-editor', ['shop:editor']);
    const pay = await issue('pay-editor', ['pay:editor']);
    const held = await call(shop, 'POST', '/api/jobs', job('db maintenance', { id: 'shop-secret-migration-x7', team: 'shop' }));
    assert.equal(held.status, 201, JSON.stringify(held.body));
    assert.equal((await call(pay, 'GET', '/api/jobs/shop-secret-migration-x7')).status, 404, 'pay cannot read it');

    const created = await call(pay, 'POST', '/api/jobs', job('db maintenance', { team: 'pay' }));
    assert.equal(created.status, 409);
    assert.equal(created.body.detail, 'a job named "db maintenance" already exists in a team you cannot read');
    assert.ok(!JSON.stringify(created.body).includes('shop-secret-migration-x7'));

    const own = await call(pay, 'POST', '/api/jobs', job('pay maintenance', { id: 'pay-maintenance', team: 'pay' }));
    assert.equal(own.status, 201);
    const renamed = await call(pay, 'PUT', '/api/jobs/pay-maintenance', job('db maintenance', { team: 'pay' }));
    assert.equal(renamed.status, 409);
    assert.ok(!JSON.stringify(renamed.body).includes('shop-secret-migration-x7'), JSON.stringify(renamed.body));

    // Whoever may read the holder is told which job it is.
    const again = await call(shop, 'POST', '/api/jobs', job('db maintenance', { team: 'shop' }));
    assert.equal(again.status, 409);
    assert.equal(again.body.detail, 'a job named "db maintenance" already exists (shop-secret-migration-x7)');
  });
});
