import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { eventually } from '../helpers/stack.js';
import { unusedPort } from '../helpers/ports.js';
import { testTemporal } from '../helpers/temporal.js';

describe('Temporal worker metrics', function () {
  it('a Doctor agent serves the SDK metrics at TEMPORAL_WORKER_METRICS_ADDRESS', async function () {
    const temporal = await testTemporal();
    const port = await unusedPort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/agent.ts'], {
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: temporal.address,
        SELFHEAL_ENVIRONMENT: 'metrics-check',
        SELFHEAL_SCRIPTS_DIR: 'scripts',
        TEMPORAL_WORKER_METRICS_ADDRESS: `127.0.0.1:${port}`,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      const text = await Promise.race([
        eventually(async () => {
          const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
          const body = await res.text();
          return /temporal_/.test(body) && body.includes('selfheal-agent-metrics-check') ? body : undefined;
        }, 60_000, 'worker metrics for the agent task queue'),
        // An agent that cannot start ends the test with its own words, not a timeout.
        exited.then(() => {
          throw new Error(`agent exited ${child.exitCode ?? child.signalCode}: ${stderr}`);
        }),
      ]);
      assert.match(text, /temporal_(num_pollers|worker_task_slots_available|request)/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      }
    }
  });
});
