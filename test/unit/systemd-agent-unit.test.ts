import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// deploy/systemd/selfheal-agent.service restarts the agent on failure; a configuration error (exit 2,
// src/runtime.ts configOrExit) is not one a restart fixes, so the unit must not retry it every 10 s forever.
const unitText = readFileSync(new URL('../../deploy/systemd/selfheal-agent.service', import.meta.url), 'utf8');
const repo = fileURLToPath(new URL('../..', import.meta.url));

/** The `[Service]` section's settings: key → values, in order (a key may repeat). */
function serviceSettings(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    if (section !== 'Service') continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

describe('deploy/systemd/selfheal-agent.service', function () {
  it('does not restart an agent that exited 2 (a configuration error, such as a production agent without SELFHEAL_AGENT_TEAMS)', async function () {
    this.timeout(30_000);
    const service = serviceSettings(unitText);
    assert.deepEqual(service.get('Restart'), ['on-failure']);
    assert.deepEqual(service.get('RestartPreventExitStatus'), ['2'], 'RestartPreventExitStatus=2 in [Service]');
    // And 2 is what the agent exits with on a configuration error.
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'production', SELFHEAL_ENVIRONMENT: 'prod-eu' };
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, ['--import', 'tsx', 'src/agent.ts'], { cwd: repo, env }, (err, _stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stderr });
      });
      child.stdin?.end();
    });
    assert.equal(code, 2, stderr);
    assert.match(stderr, /SELFHEAL_AGENT_TEAMS is required when NODE_ENV=production/);
  });
});
