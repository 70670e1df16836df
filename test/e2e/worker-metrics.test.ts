import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { freePort } from '../../src/temporal/dev-server.js';
import { eventually } from '../helpers/stack.js';
import { testTemporal } from '../helpers/temporal.js';

describe('Temporal worker metrics', function () {
  it('a Doctor agent serves the SDK metrics at TEMPORAL_WORKER_METRICS_ADDRESS', async function () {
    const temporal = await testTemporal();
    const port = await freePort();
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
    try {
      const text = await eventually(async () => {
        if (child.exitCode !== null) throw new Error(`agent exited ${child.exitCode}: ${stderr}`);
        const res = await fetch(`http://127.0.0.1:${port}/metrics`);
        const body = await res.text();
        return /temporal_/.test(body) && body.includes('selfheal-agent-metrics-check') ? body : undefined;
      }, 60_000, 'worker metrics for the agent task queue');
      assert.match(text, /temporal_(num_pollers|worker_task_slots_available|request)/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });
});
