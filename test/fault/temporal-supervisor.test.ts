import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server.js';
import { eventually } from '../helpers/stack.js';
import { FAST_SQLITE, superviseServer, temporalCliForTests } from '../helpers/temporal.js';

// The suite's shared Temporal dev server keeps its state in a SQLite file and is watched: a server that
// stops answering (here: frozen with SIGSTOP, as a server whose database connection is stuck looks from
// outside) is restarted on its port, and what it held before is still there.
describe('fault: the test Temporal server stops answering', function () {
  let dir: string;
  let server: DevServer;
  let connection: Connection;
  let stopSupervising = () => {};

  before(async function () {
    // A dev server of its own started beside a loaded suite: its first answer may take a while (the
    // fresh-clone CI of 225a9dc: 'Failed to connect before the deadline' at the default 10 s).
    this.timeout(240_000);
    const executable = await temporalCliForTests();
    dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-supervised-temporal-'));
    const dbFilename = path.join(dir, 'temporal.db');
    server = await startDevServer({ executable, dbFilename, sqlitePragmas: FAST_SQLITE });
    connection = await Connection.connect({ address: server.address, connectTimeout: 90_000 });
    stopSupervising = superviseServer(
      connection,
      async () => {
        await server.stop();
        server = await startDevServer({ executable, dbFilename, sqlitePragmas: FAST_SQLITE, port: server.port });
      },
      { everyMs: 300, deadlineMs: 1_000, failures: 3 },
    );
  });

  after(async function () {
    stopSupervising();
    await connection?.close().catch(() => undefined);
    if (server?.process.exitCode === null) server.process.kill('SIGCONT');
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is restarted on its port, and a workflow started before is still running there', async function () {
    const client = new Client({ connection, namespace: 'default' });
    const workflowId = `supervised-${randomUUID()}`;
    await client.workflow.start('nobodyRunsThis', { taskQueue: `supervised-${randomUUID()}`, workflowId, args: [] });
    const frozen = server.process;
    frozen.kill('SIGSTOP');
    try {
      await eventually(async () => server.process !== frozen, 60_000, 'the restart');
      assert.equal(frozen.signalCode, 'SIGKILL', 'the frozen server was killed');
      const described = await eventually(() => client.workflow.getHandle(workflowId).describe(), 30_000, 'the workflow');
      assert.equal(described.status.name, 'RUNNING');
    } finally {
      if (frozen.exitCode === null && frozen.signalCode === null) frozen.kill('SIGCONT');
    }
  });
});
