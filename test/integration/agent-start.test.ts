// The Doctor agent refuses to start, with one clear line on stderr and a non-zero exit, when it cannot
// do its job safely: no environment named, a missing scripts directory or one (or a directory above it)
// that someone other than root or the agent's user could change, no Temporal.
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runNodeToExit } from '../helpers/fault-process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `node --import tsx src/agent.ts` with only the given variables (plus PATH and HOME). */
const startAgent = (env: Record<string, string>, timeoutMs?: number) => runNodeToExit(['--import', 'tsx', 'src/agent.ts'], env, timeoutMs);

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${stderr}`);
  return lines[0]!;
}

describe('Doctor agent start-up checks', function () {
  let dir: string;
  const scripts = path.join(ROOT, 'scripts');
  const me = process.getuid?.() ?? 0;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-agent-start-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses to start without SELFHEAL_ENVIRONMENT', async () => {
    const r = await startAgent({ SELFHEAL_SCRIPTS_DIR: scripts, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(r.code, 1);
    assert.equal(oneLine(r.stderr), 'agent failed: SELFHEAL_ENVIRONMENT is required: the name of the environment this agent serves');
  });

  it('refuses an invalid SELFHEAL_ENVIRONMENT as a configuration error (exit 2)', async () => {
    const r = await startAgent({ SELFHEAL_ENVIRONMENT: 'Prod East', SELFHEAL_SCRIPTS_DIR: scripts });
    assert.equal(r.code, 2);
    assert.match(oneLine(r.stderr), /^Invalid configuration: SELFHEAL_ENVIRONMENT must be a lowercase environment name/);
  });

  it('refuses to start in production without SELFHEAL_AGENT_TEAMS (exit 2, naming it), and says SELFHEAL_AGENT_TEAMS=* at error level before connecting', async function () {
    // Before: it started, ran every team's scripts, and only warned once connected.
    const r = await startAgent({ NODE_ENV: 'production', SELFHEAL_ENVIRONMENT: 'prod', SELFHEAL_SCRIPTS_DIR: scripts, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(r.code, 2);
    assert.match(oneLine(r.stderr), /^Invalid configuration: SELFHEAL_AGENT_TEAMS is required when NODE_ENV=production: the team\(s\) whose tasks this Doctor agent runs/);
    this.timeout(120_000);
    const every = await startAgent({ NODE_ENV: 'production', SELFHEAL_AGENT_TEAMS: '*', SELFHEAL_ENVIRONMENT: 'prod', SELFHEAL_SCRIPTS_DIR: scripts, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(every.code, 1, 'it starts, then gives up on the unreachable Temporal');
    const lines = every.stdout.trim().split('\n').map((l) => JSON.parse(l) as { level: number | string; msg: string });
    const loud = lines.find((l) => l.msg.startsWith('SELFHEAL_AGENT_TEAMS=*: this Doctor agent runs the fix scripts, checks and job targets of EVERY team'));
    assert.ok(loud, every.stdout);
    assert.ok(loud.level === 50 || loud.level === 'error', `logged at error level: ${JSON.stringify(loud)}`);
    assert.ok(lines.indexOf(loud) < lines.findIndex((l) => l.msg === 'cannot reach Temporal yet'), 'said before connecting');
  });

  it('refuses a scripts directory that does not exist', async () => {
    const missing = path.join(dir, 'no-such-dir');
    const r = await startAgent({ SELFHEAL_ENVIRONMENT: 'prod', SELFHEAL_SCRIPTS_DIR: missing, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(r.code, 1);
    assert.equal(oneLine(r.stderr), `agent failed: SELFHEAL_SCRIPTS_DIR: scripts directory ${missing} does not exist`);
  });

  it('refuses a world-writable scripts directory and says how to fix it', async () => {
    const open = await mkdtemp(path.join(dir, 'open-'));
    await chmod(open, 0o777);
    const r = await startAgent({ SELFHEAL_ENVIRONMENT: 'prod', SELFHEAL_SCRIPTS_DIR: open, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(r.code, 1);
    assert.equal(oneLine(r.stderr), `agent failed: SELFHEAL_SCRIPTS_DIR: scripts directory ${open} is group- and world-writable (owner uid ${me}, mode 777): any user could change what the agent runs as uid ${me}; run chmod go-w ${open}`);
  });

  it('refuses a group-writable scripts directory: the members of its group could make it run their code (sshd StrictModes)', async () => {
    const shared = await mkdtemp(path.join(dir, 'shared-'));
    await chmod(shared, 0o775);
    const r = await startAgent({ SELFHEAL_ENVIRONMENT: 'prod', SELFHEAL_SCRIPTS_DIR: shared, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(r.code, 1);
    const gid = (await stat(shared)).gid;
    assert.equal(oneLine(r.stderr), `agent failed: SELFHEAL_SCRIPTS_DIR: scripts directory ${shared} is group-writable (owner uid ${me}, mode 775): the members of group ${gid} could change what the agent runs as uid ${me}; run chmod go-w ${shared}`);
  });

  it('refuses a scripts directory below a directory another user owns: that user could swap the directory for their own', async function () {
    if (me !== 0) this.skip(); // chown to another user needs root
    const theirs = await mkdtemp(path.join(dir, 'theirs-'));
    const scriptsDir = path.join(theirs, 'scripts');
    await mkdir(scriptsDir, { mode: 0o755 });
    await chmod(scriptsDir, 0o755);
    await chmod(theirs, 0o755);
    await chown(theirs, 65534, 65534);
    const r = await startAgent({ SELFHEAL_ENVIRONMENT: 'prod', SELFHEAL_SCRIPTS_DIR: scriptsDir, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(r.code, 1);
    assert.equal(oneLine(r.stderr), `agent failed: SELFHEAL_SCRIPTS_DIR: scripts directory ${scriptsDir}: the directory ${theirs} above it is not owned by root (owner uid 65534, mode 755): uid 65534 could change what the agent runs as uid 0; run chown root ${theirs}`);
  });

  it('gives up on an unreachable Temporal after its retries, naming the address', async function () {
    // connectWithRetries: 5 attempts with 1+2+4+8 s of back-off, so about 15-25 s in all.
    this.timeout(100_000);
    const address = `127.0.0.1:${await closedPort()}`;
    const r = await startAgent({ SELFHEAL_ENVIRONMENT: 'prod', SELFHEAL_SCRIPTS_DIR: scripts, TEMPORAL_ADDRESS: address, LOG_LEVEL: 'warn' });
    assert.equal(r.code, 1);
    assert.match(oneLine(r.stderr), new RegExp(`^agent failed: cannot reach Temporal at ${address.replace(/\./g, '\\.')} after 5 attempts: .*[Cc]onnection refused`));
    const retries = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; attempt: number; address: string }).filter((l) => l.msg === 'cannot reach Temporal yet');
    assert.deepEqual(retries.map((l) => l.attempt), [1, 2, 3, 4, 5]);
    assert.ok(retries.every((l) => l.address === address));
    assert.ok(r.ms >= 15_000, `retried with back-off (${r.ms} ms)`);
  });
});
