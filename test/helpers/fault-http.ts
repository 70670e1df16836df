import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { loadConfig, type Config } from '../../src/config.js';
import type { Database } from '../../src/db/database.js';
import { mapBounded } from '../../src/domain/map-bounded.js';
import { createLogger } from '../../src/logger.js';
import { signBody } from '../../src/pagerduty/signature.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { onTeardown } from './shared.js';
import { ADMIN_TOKEN, SAMPLE_HISTORY_DAYS, WEBHOOK_SECRET } from './stack.js';

/** The real API served over loopback HTTP, sending work to `taskQueue` (whatever worker polls it). */
export async function serveApi(opts: { temporal: Client; temporalAddress: string; db: Kysely<Database>; databaseUrl: string; taskQueue: string }): Promise<ApiServer & { config: Config }> {
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    TEMPORAL_ADDRESS: opts.temporalAddress,
    TEMPORAL_TASK_QUEUE: opts.taskQueue,
    PAGERDUTY_WEBHOOK_SECRETS: WEBHOOK_SECRET,
    SELFHEAL_RETENTION_DAYS: SAMPLE_HISTORY_DAYS,
    SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN,
    DATABASE_URL: opts.databaseUrl,
  });
  const api = await startApiServer({ config, db: opts.db, temporal: opts.temporal, logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) });
  onTeardown(() => api.close());
  return { ...api, config };
}

export interface DeliveryResult {
  status: number;
  /** Every status seen, in order (503s before the final answer). */
  statuses: number[];
}

/**
 * Deliver like PagerDuty does: sign the raw bytes, POST, and retry on 5xx or a network error with a
 * short pause, up to `attempts` times (PagerDuty retries for hours; a test needs a bound).
 */
export async function deliverWithRetries(
  baseUrl: string,
  payload: unknown,
  opts: { attempts?: number; pauseMs?: number; webhookId?: string } = {},
): Promise<DeliveryResult> {
  const raw = JSON.stringify(payload);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'PagerDuty-Webhook/V3.0',
    'x-pagerduty-signature': signBody(raw, WEBHOOK_SECRET),
    ...(opts.webhookId ? { 'x-webhook-id': opts.webhookId } : {}),
  };
  const attempts = opts.attempts ?? 60;
  const statuses: number[] = [];
  for (let i = 0; i < attempts; i++) {
    let status = 0;
    try {
      const res = await fetch(`${baseUrl}/webhooks/pagerduty`, { method: 'POST', headers, body: raw, signal: AbortSignal.timeout(15_000) });
      status = res.status;
      await res.arrayBuffer();
    } catch {
      status = 0;
    }
    statuses.push(status);
    if (status !== 0 && status < 500) return { status, statuses };
    await new Promise((r) => setTimeout(r, opts.pauseMs ?? 500));
  }
  return { status: statuses.at(-1) ?? 0, statuses };
}

/** Run `fn` over `items` with at most `concurrency` in flight (src/domain/map-bounded.ts). */
export const mapConcurrent = mapBounded;
