// Small measuring tools for the benchmarks: percentiles, a closed-loop runner and an open-loop HTTP
// load generator on keep-alive sockets. Every loop is bounded in count and in time.
import http from 'node:http';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export const round = (v: number, digits = 1): number => (Number.isFinite(v) ? Math.round(v * 10 ** digits) / 10 ** digits : v);

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function summarize(latenciesMs: readonly number[]): LatencySummary {
  return {
    count: latenciesMs.length,
    p50Ms: round(percentile(latenciesMs, 50)),
    p99Ms: round(percentile(latenciesMs, 99)),
    // A loop, not Math.max(...xs): a fast machine's hello-world run holds more samples than the call stack.
    maxMs: round(latenciesMs.length ? latenciesMs.reduce((m, x) => (x > m ? x : m), -Infinity) : Number.NaN),
  };
}

export interface ClosedLoopResult {
  ops: number;
  errors: number;
  seconds: number;
  perSecond: number;
  latency: LatencySummary;
  firstError?: string;
}

/**
 * Run `op(i)` with `concurrency` callers until `count` operations are done or `maxMs` has passed;
 * the rate is completed operations over elapsed time.
 */
export async function closedLoop(opts: { concurrency: number; count: number; maxMs: number; op: (i: number) => Promise<unknown> }): Promise<ClosedLoopResult> {
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + opts.maxMs;
  const lane = async (): Promise<void> => {
    while (next < opts.count && performance.now() < deadline) {
      const i = next++;
      const t0 = performance.now();
      try {
        await opts.op(i);
        latencies.push(performance.now() - t0);
      } catch (err) {
        errors += 1;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, lane));
  const seconds = (performance.now() - started) / 1000;
  return { ops: latencies.length, errors, seconds: round(seconds, 2), perSecond: round(latencies.length / seconds), latency: summarize(latencies), ...(firstError ? { firstError } : {}) };
}

/**
 * Start `op(i)` at a fixed rate for `durationMs` whatever the answers (open loop), so slow answers show
 * as latency instead of a lower rate; returns the latency of the operations that succeeded.
 */
export async function openLoopOps(opts: { rate: number; durationMs: number; op: (i: number) => Promise<unknown> }): Promise<{ sent: number; errors: number; latency: LatencySummary }> {
  const latencies: number[] = [];
  const inFlight: Promise<void>[] = [];
  let errors = 0;
  const started = performance.now();
  const count = Math.round((opts.rate * opts.durationMs) / 1000);
  for (let i = 0; i < count; i++) {
    const wait = started + (i * 1000) / opts.rate - performance.now();
    if (wait > 0) await sleep(wait);
    const t0 = performance.now();
    inFlight.push(
      opts.op(i).then(
        () => void latencies.push(performance.now() - t0),
        () => void (errors += 1),
      ),
    );
  }
  await Promise.all(inFlight);
  return { sent: count, errors, latency: summarize(latencies) };
}

export interface HttpTarget {
  url: string;
  agent: http.Agent;
}

export function keepAliveTarget(url: string, maxSockets = 64): HttpTarget {
  return { url, agent: new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets }) };
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One request over the target's keep-alive agent; rejects on network errors and after `timeoutMs`. */
export function request(target: HttpTarget, path: string, init: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, target.url);
    const body = init.body === undefined ? undefined : Buffer.from(init.body);
    const req = http.request(
      url,
      {
        method: init.method ?? 'GET',
        agent: target.agent,
        headers: { ...(init.headers ?? {}), ...(body ? { 'content-length': String(body.byteLength) } : {}) },
        timeout: init.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

export interface OpenLoopResult {
  targetRate: number;
  seconds: number;
  sent: number;
  /** Requests not sent because `maxInFlight` were still waiting: the server fell behind. */
  shed: number;
  ok: number;
  errors: number;
  statuses: Record<string, number>;
  achievedRate: number;
  /** Of the requests answered with a 2xx: a refusal (a fast 503 of an overloaded API) is no ack. */
  latency: LatencySummary;
  /** Indices of the requests answered with a 2xx. */
  okIndices: number[];
  /** The first network error (connection refused or reset, timeout), when there was one. */
  firstError?: string;
}

/**
 * Open-loop load: request i is due at start + i/rate whether or not earlier ones have been answered
 * (what PagerDuty does). Latency is from the moment a request is written to the end of its answer.
 */
export async function openLoop(opts: {
  target: HttpTarget;
  rate: number;
  durationMs: number;
  maxInFlight?: number;
  build: (i: number) => { path: string; headers: Record<string, string>; body: string };
}): Promise<OpenLoopResult> {
  const total = Math.max(1, Math.round((opts.rate * opts.durationMs) / 1000));
  const maxInFlight = opts.maxInFlight ?? 512;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const okIndices: number[] = [];
  let sent = 0;
  let shed = 0;
  let errors = 0;
  let firstError: string | undefined;
  let inFlight = 0;
  const pending: Promise<void>[] = [];
  const started = performance.now();
  const fire = (i: number): void => {
    const { path, headers, body } = opts.build(i);
    inFlight += 1;
    sent += 1;
    const t0 = performance.now();
    pending.push(
      request(opts.target, path, { method: 'POST', headers, body })
        .then((answer) => {
          statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
          if (answer.status >= 200 && answer.status < 300) {
            latencies.push(performance.now() - t0);
            okIndices.push(i);
          }
        })
        .catch((err: unknown) => {
          errors += 1;
          firstError ??= `request ${i}: ${(err as Error).message}`;
        })
        .finally(() => {
          inFlight -= 1;
        }),
    );
  };
  let issued = 0;
  const hardStop = started + opts.durationMs * 3 + 5_000;
  while (issued < total && performance.now() < hardStop) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * opts.rate) + 1);
    while (issued < due) {
      if (inFlight >= maxInFlight) shed += 1;
      else fire(issued);
      issued += 1;
    }
    await sleep(Math.max(1, Math.min(5, 1000 / opts.rate)));
  }
  await Promise.all(pending);
  const seconds = (performance.now() - started) / 1000;
  const ok = okIndices.length;
  return {
    targetRate: opts.rate,
    seconds: round(seconds, 2),
    sent,
    shed: shed + (total - issued),
    ok,
    errors,
    statuses,
    achievedRate: round(ok / seconds),
    latency: summarize(latencies),
    okIndices,
    ...(firstError ? { firstError } : {}),
  };
}

/** Poll `check` every `everyMs` until it returns a value or `timeoutMs` passes (then undefined). */
export async function pollUntil<T>(check: () => Promise<T | undefined>, timeoutMs: number, everyMs = 200): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) return undefined;
    await sleep(everyMs);
  }
}

export const quick = process.env.BENCH_QUICK === '1';

/** The rate at which the ack p99 target is judged (bench/ingest.ts measures it, bench/report.ts judges it). */
export const TARGET_ACK_RATE = 100;

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
