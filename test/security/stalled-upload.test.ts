// A body read before anyone is authenticated (the webhook's, before its signature is checked) was held as
// long as Node lets a request arrive, 300 s by default: a client that sent most of it and stalled kept those
// bytes, and its connection, for five minutes. The API server now gives a whole request
// REQUEST_RECEIVE_SECONDS (60 s) to arrive, then answers 408 and closes the connection. Against the real
// server (src/server.ts), with that bound made short for the test; a request that arrives in time is served.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import type { Client } from '@temporalio/client';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const ADMIN = 'stalled-upload-admin-0123456789abcdef';

describe('security: a request that stalls while it is sent is cut off', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let api: ApiServer;
  const sockets: Socket[] = [];

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', SELFHEAL_ADMIN_TOKEN: ADMIN, PAGERDUTY_WEBHOOK_SECRETS: 'stalled-upload-secret', DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    api = await startApiServer({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, { receiveTimeoutMs: 1500 });
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await api?.close(100);
    await db?.close();
  });

  /** Sends the head of a POST and `bytes` of its declared body, then nothing; resolves with what came back once the server closes. */
  function stall(path: string, declared: number, bytes: number): { closed: Promise<string> } {
    const socket = connect(api.port, '127.0.0.1');
    sockets.push(socket);
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('error', () => {});
    socket.write([`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Content-Type: application/json', `Content-Length: ${declared}`, '', ''].join('\r\n'));
    socket.write(Buffer.alloc(bytes, 0x20));
    return { closed: new Promise((resolve) => socket.once('close', () => resolve(answer))) };
  }

  it('a webhook body stalled before its end is answered 408 and its connection closed, within the bound', async function () {
    const started = Date.now();
    const { closed } = stall('/webhooks/pagerduty', 200_000, 150_000);
    const answer = await Promise.race([closed, new Promise<string>((resolve) => setTimeout(() => resolve('(still open after 20 s)'), 20_000))]);
    assert.match(answer, /^HTTP\/1\.1 408 /, `what the stalled upload got: ${answer.slice(0, 80)}`);
    assert.ok(Date.now() - started < 15_000, `closed after ${Date.now() - started} ms`);
  });

  it('a request that arrives in time is served as before', async function () {
    const res = await fetch(`${api.url}/api/rules`, { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  });
});
