// What the `selfheal apply|diff|export` tests share: the real API server listening on loopback over a test
// stack (the CLI talks HTTP to it), and a scratch directory of numbered folders holding the files an apply reads.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { ADMIN_TOKEN, startStack, type Stack } from './stack.js';

/** The API server of `stack` on a free loopback port. */
export function apiServerOn(stack: Stack): Promise<ApiServer> {
  return startApiServer({ config: { ...stack.config, port: 0, host: '127.0.0.1' }, db: stack.db.db, temporal: stack.temporal.client, logger: createLogger({ level: 'silent' }) });
}

export interface ScratchFolders {
  /** The directory itself. */
  readonly dir: string;
  /** A new folder holding `files` (name → text). */
  folder(files: Record<string, string>): Promise<string>;
  remove(): Promise<void>;
}

/** A temporary directory (its name starts with `prefix`) of folders case-1, case-2, … */
export async function scratchFolders(prefix: string): Promise<ScratchFolders> {
  const work = await mkdtemp(path.join(os.tmpdir(), prefix));
  let n = 0;
  return {
    dir: work,
    async folder(files) {
      const dir = path.join(work, `case-${++n}`);
      await mkdir(dir);
      for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
      return dir;
    },
    remove: () => rm(work, { recursive: true, force: true }),
  };
}

export interface GitopsServer {
  stack: Stack;
  /** The API server the CLI is pointed at. */
  server: ApiServer;
  /** The environment of a `selfheal` run against `server` with the admin token. */
  env: Record<string, string>;
  work: ScratchFolders;
}

/**
 * For the describe it is called in: a test stack, its API server and a scratch directory (`prefix`), started
 * before its tests and stopped after them; before each test, every job is deleted through the API (so its
 * Temporal Schedule goes too), then every table is emptied. Its fields are set once the tests run.
 */
export function gitopsServer(prefix: string): GitopsServer {
  const g = {} as GitopsServer;
  before(async function () {
    g.stack = await startStack();
    g.server = await apiServerOn(g.stack);
    g.env = { SELFHEAL_URL: g.server.url, SELFHEAL_TOKEN: ADMIN_TOKEN };
    g.work = await scratchFolders(prefix);
  });
  beforeEach(async () => {
    const jobs = await g.stack.api('/api/jobs');
    assert.equal(jobs.status, 200, `GET /api/jobs: ${jobs.status}`);
    for (const j of ((await jobs.json()) as { items: { id: string }[] }).items) assert.equal((await g.stack.api(`/api/jobs/${j.id}`, { method: 'DELETE' })).status, 204);
    await g.stack.db.truncate();
  });
  after(async () => {
    await g.server?.close();
    await g.stack?.stop();
    await g.stack?.db.close();
    await g.work?.remove();
  });
  return g;
}
