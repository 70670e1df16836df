// What the `selfheal apply|diff|export` tests share: the real API server listening on loopback over a test
// stack (the CLI talks HTTP to it), and a scratch directory of numbered folders holding the files an apply reads.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import type { Stack } from './stack.js';

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
