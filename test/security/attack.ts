// Tools for the adversarial suite: the real API process, and clients that behave like attackers.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { startChildRoot, type ChildRoot } from '../helpers/fault-process.js';

export interface ApiProcess {
  port: number;
  url: string;
  child: ChildRoot;
  /** Resident memory of the API process now and at its peak (VmRSS, VmHWM), in bytes. */
  memory(): { rss: number; peak: number };
  stop(): Promise<void>;
}

/** src/server.ts as its own process (what production runs), on a free loopback port. */
export async function startApiProcess(env: Record<string, string>): Promise<ApiProcess> {
  const child = startChildRoot('src/server.ts', { PORT: '0', HOST: '127.0.0.1', ...env });
  await child.waitFor(/"msg":"API listening"/, 90_000);
  const port = Number(/"url":"http:\/\/[^"]*:(\d+)"/.exec(child.output())?.[1]);
  if (!port) throw new Error(`no port in the API's output:\n${child.output().slice(-2000)}`);
  const pid = child.process.pid!;
  const kib = (status: string, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    child,
    memory() {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      return { rss: kib(status, 'VmRSS'), peak: kib(status, 'VmHWM') };
    },
    stop: () => child.stop(),
  };
}

export interface UploadResult {
  /** HTTP status of the answer, or 0 when the server closed without one. */
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Body bytes written to the socket before the first byte of the answer arrived. */
  sentBeforeAnswer: number;
  /** Body bytes written in all. */
  sent: number;
  /** Whether the whole planned body went out (the server read it all, or buffered it). */
  sentEverything: boolean;
  /** Whether the server closed the connection (FIN or reset) before the client did. */
  serverClosed: boolean;
}

/**
 * An attacker's upload: `total` body bytes of `fill`, chunked (no Content-Length) unless
 * `contentLength` is given, written as fast as the socket takes them. Writing stops when the answer
 * starts; the client then waits (up to `deadlineMs`, a hang detector) for the server to finish answering
 * and to close. The socket is the attacker's own: nothing about the server is assumed.
 */
export function upload(opts: {
  port: number;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  total: number;
  contentLength?: number;
  fill?: string;
  deadlineMs?: number;
}): Promise<UploadResult> {
  const chunkSize = 64 * 1024;
  const fill = Buffer.from((opts.fill ?? '1').repeat(chunkSize)).subarray(0, chunkSize);
  const chunked = opts.contentLength === undefined;
  const head = [
    `${opts.method ?? 'POST'} ${opts.path} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Content-Type: application/json',
    chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${opts.contentLength}`,
    ...Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
    '',
    '',
  ].join('\r\n');
  return new Promise((resolve, reject) => {
    const socket = connect(opts.port, '127.0.0.1');
    let sent = 0;
    let sentBeforeAnswer = -1;
    let response = Buffer.alloc(0);
    let serverClosed = false;
    let settled = false;
    const timer = setTimeout(() => finish(new Error(`no complete answer within ${opts.deadlineMs ?? 60_000} ms (sent ${sent} bytes)`)), opts.deadlineMs ?? 60_000);
    const parsed = () => {
      const end = response.indexOf('\r\n\r\n');
      if (end < 0) return undefined;
      const lines = response.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
      const headers = Object.fromEntries(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      const body = response.subarray(end + 4);
      const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
      return { status, headers, body: body.toString('utf8'), complete: length !== undefined && body.length >= length };
    };
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const answer = parsed();
      if (err && !answer) return reject(err);
      resolve({
        status: answer?.status ?? 0,
        headers: answer?.headers ?? {},
        body: answer?.body ?? '',
        sentBeforeAnswer: sentBeforeAnswer < 0 ? sent : sentBeforeAnswer,
        sent,
        sentEverything: sent >= opts.total,
        serverClosed,
      });
    };
    socket.on('data', (d: Buffer) => {
      if (sentBeforeAnswer < 0) sentBeforeAnswer = sent;
      response = Buffer.concat([response, d]);
    });
    socket.on('end', () => {
      serverClosed = true;
      finish();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') serverClosed = true;
      finish(parsed() ? undefined : e);
    });
    socket.on('close', () => finish());
    // One chunk per turn of the event loop. On loopback the kernel can take chunk after chunk as fast as
    // the server discards them; a write the kernel took at once signals 'drain' from process.nextTick, so
    // writing on from 'drain' alone never lets the loop poll the socket: the client would not see the
    // answer arrive, would write on until the server's lingering close ends, get EPIPE, and lose the
    // answer still unread (seen once in CI).
    const pump = () => {
      if (!settled && sentBeforeAnswer < 0 && sent < opts.total) {
        const n = Math.min(chunkSize, opts.total - sent);
        const piece = n === chunkSize ? fill : fill.subarray(0, n);
        const ok = socket.write(chunked ? Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece);
        sent += n;
        return void (ok ? setImmediate(pump) : socket.once('drain', () => setImmediate(pump)));
      }
      if (!settled && sent >= opts.total && sentBeforeAnswer < 0 && chunked) socket.write('0\r\n\r\n');
    };
    socket.once('connect', () => {
      socket.write(head);
      pump();
    });
  });
}

/** Poll GET /healthz every `everyMs` until stopped; each answer must come within `deadlineMs` (a hang detector). */
export function watchHealth(url: string, everyMs = 200, deadlineMs = 10_000): { stop(): Promise<{ answered: number; failures: string[] }> } {
  let running = true;
  let answered = 0;
  const failures: string[] = [];
  const loop = (async () => {
    while (running) {
      try {
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(deadlineMs) });
        if (res.status === 200) answered++;
        else failures.push(`status ${res.status}`);
        await res.arrayBuffer();
      } catch (err) {
        failures.push(`/healthz did not answer within ${deadlineMs} ms: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { answered, failures };
    },
  };
}
