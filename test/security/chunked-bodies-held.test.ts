// A chunked body (no Content-Length) is read whole by the app's body limit before any route looks at the
// request's credentials (src/api/body.ts): each is bounded by its route's limit (4 MiB for rule tests), but
// not how many are held at once. Unauthenticated uploads of a little under 4 MiB, held open, made the API
// hold 4 MiB each and answer none of them (the server waits up to Node's requestTimeout, 300 s); 40 of
// them held 160 MiB. Now the app holds at most MAX_HELD_CHUNKED_BYTES of chunked bodies at once and answers
// those past it 503 with Retry-After at once. Against a real HTTP server in this process: app.request
// cannot hold an upload open.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Client } from '@temporalio/client';
import { serve } from '@hono/node-server';
import { createApp } from '../../src/api/app.js';
import { MAX_HELD_CHUNKED_BYTES } from '../../src/api/body.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { eventually } from '../helpers/stack.js';

const MiB = 1024 * 1024;
const ADMIN = 'chunked-bodies-held-admin-0123456789';
/** Under the 4 MiB of POST /api/rules/test: each upload is within its own limit, and never ends. */
const UPLOAD = 4 * MiB - 4096;
const UPLOADS = 40;

describe('security: chunked bodies held at once are bounded', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let server: Server;
  let port: number;
  const sockets: Socket[] = [];

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    const app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    await new Promise((resolve) => server.once('listening', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await db?.close();
  });

  /** Opens a chunked POST and writes `bytes` of it without ending it; `answer` gathers what comes back. */
  function hold(path: string, bytes: number, headers: Record<string, string> = {}): { answer: () => string } {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('error', () => {});
    const head = [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Content-Type: application/json', 'Transfer-Encoding: chunked', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
    socket.write(head);
    const piece = Buffer.alloc(64 * 1024, 0x20);
    for (let sent = 0; sent < bytes; sent += piece.length) {
      const n = Math.min(piece.length, bytes - sent);
      socket.write(Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), piece.subarray(0, n), Buffer.from('\r\n')]));
    }
    return { answer: () => answer };
  }

  it('unauthenticated chunked uploads past 64 MiB held are answered 503 at once, and the bytes are given back when they end', async function () {
    const uploads = Array.from({ length: UPLOADS }, () => hold('/api/rules/test', UPLOAD));
    // Those past what the app holds are answered while every upload is still open.
    const past = UPLOADS - Math.floor(MAX_HELD_CHUNKED_BYTES / UPLOAD);
    const answered = await eventually(
      async () => {
        const a = uploads.map((u) => u.answer()).filter((t) => t !== '');
        return a.length >= past ? a : undefined;
      },
      30_000,
      `${past} of ${UPLOADS} held uploads of ${UPLOAD} bytes to be answered (${UPLOADS * UPLOAD} bytes would be held)`,
    );
    for (const text of answered) {
      assert.match(text, /^HTTP\/1\.1 503 /, text.slice(0, 300));
      assert.match(text, /\r\nretry-after: 1\r\n/i, text.slice(0, 300));
      assert.match(text, /"limit":"chunked-bodies"/, text.slice(0, 600));
    }

    // The uploads go away: what they held is given back, and a chunked body is taken again.
    for (const s of sockets.splice(0)) s.destroy();
    await eventually(
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/api/rules/validate`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
          body: new Blob([JSON.stringify({ name: 'x' })]).stream(),
          duplex: 'half',
        } as RequestInit);
        await res.text();
        return res.status !== 503 ? res.status : undefined;
      },
      20_000,
      'a chunked body to be taken once the held uploads ended',
    );
  });
});
