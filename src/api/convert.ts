import { Worker } from 'node:worker_threads';
import type { Converted, ConvertRequest } from './convert-text.js';
import { createTurns } from '../domain/turns.js';
import { createCallerShare } from './caller-share.js';

/** How long one conversion may run once its worker is ready; a rule's YAML takes milliseconds. */
export const CONVERT_TIME_LIMIT_MS = 2_000;
/** How long a worker may take to start (load the parser) before the conversion is given up as unavailable. */
const START_LIMIT_MS = 15_000;
/**
 * Conversions at once in one API process, and conversions waiting their turn: each is a thread that may
 * keep a core busy for its time limit, so however many callers send hostile documents, at most one core
 * of the API's host converts; what arrives past the queue is answered 503. One caller without the admin
 * scope holds at most all of those places but one (src/api/caller-share.ts): one read token's burst (ten
 * conversions) filled the line alone, and every other caller's editor was answered 503 while it kept sending.
 */
export const MAX_CONVERSIONS = 1;
export const MAX_WAITING_CONVERSIONS = 4;
/**
 * What one conversion costs against the caller's request budget (src/api/auth.ts), as a backtest does: a
 * token refilled at the default 20 a second converts at most 2 documents a second.
 */
export const CONVERT_REQUEST_COST = 10;
/** Heap for one conversion: the text is at most 64 KiB and aliases are refused, so a rule needs a few MB. */
const HEAP_MB = 64;

export type ConvertOutcome = Converted | { ok: false; busy: true; perCaller?: number } | { ok: false; unavailable: string };

const conversions = createTurns({ running: MAX_CONVERSIONS, waiting: MAX_WAITING_CONVERSIONS });
const share = createCallerShare(MAX_CONVERSIONS + MAX_WAITING_CONVERSIONS);
/** Places in the conversions' line (converting and waiting) one caller without the admin scope may hold. */
export const CONVERSIONS_PER_CALLER = share.perCaller;

/**
 * Convert in a worker thread of its own, created for this document and ended after it: the API's event
 * loop never parses YAML (a parse may take seconds or run its stack out), the thread's heap is bounded,
 * and a conversion still running after CONVERT_TIME_LIMIT_MS is stopped and refused as too complex. At
 * most MAX_CONVERSIONS run at once per process and MAX_WAITING_CONVERSIONS wait; beyond, `busy`. `caller`
 * (a token, or a user's sessions together, without the admin scope) holds at most CONVERSIONS_PER_CALLER of those places; its
 * next is `busy` with `perCaller`.
 */
export async function convertOffThread(body: ConvertRequest, opts: { timeLimitMs?: number; caller?: string | undefined } = {}): Promise<ConvertOutcome> {
  if (!share.take(opts.caller)) return { ok: false, busy: true, perCaller: CONVERSIONS_PER_CALLER };
  try {
    return await convertInTurn(body, opts.timeLimitMs);
  } finally {
    share.release(opts.caller);
  }
}

async function convertInTurn(body: ConvertRequest, timeLimitMs: number | undefined): Promise<ConvertOutcome> {
  if (!(await conversions.take())) return { ok: false, busy: true };
  const limit = timeLimitMs ?? CONVERT_TIME_LIMIT_MS;
  const worker = new Worker(new URL('./convert-worker.ts', import.meta.url), {
    resourceLimits: { maxOldGenerationSizeMb: HEAP_MB, maxYoungGenerationSizeMb: 16 },
    stdout: true,
    stderr: true,
  });
  worker.unref();
  try {
    return await new Promise<ConvertOutcome>((resolve) => {
      let timer = setTimeout(() => resolve({ ok: false, unavailable: `the converter did not start within ${START_LIMIT_MS / 1000} s` }), START_LIMIT_MS);
      worker.on('message', (m: 'ready' | Converted) => {
        clearTimeout(timer);
        if (m !== 'ready') return resolve(m);
        timer = setTimeout(
          () =>
            resolve({
              ok: false,
              detail: `the ${body.from.toUpperCase()} document took more than ${limit} ms to convert; a rule converts in milliseconds`,
              message: `took more than ${limit} ms to convert`,
            }),
          limit,
        );
        worker.postMessage(body);
      });
      worker.on('error', (err: Error & { code?: string }) => {
        clearTimeout(timer);
        if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
          resolve({ ok: false, detail: `the ${body.from.toUpperCase()} document needs more than ${HEAP_MB} MB to convert`, message: `needs more than ${HEAP_MB} MB to convert` });
        } else resolve({ ok: false, unavailable: `the converter failed: ${err.message.split('\n')[0]!.slice(0, 200)}` });
      });
      worker.on('exit', () => {
        clearTimeout(timer);
        resolve({ ok: false, unavailable: 'the converter stopped before it answered' });
      });
    });
  } finally {
    await worker.terminate();
    conversions.release();
  }
}
