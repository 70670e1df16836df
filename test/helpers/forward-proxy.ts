// An HTTP proxy on loopback in front of a test's server or peer, with a hook on each side of the call: what
// lets a test make something happen just before a request reaches its target (another change landing, a
// slow answer), or once the target has answered and before the answer is passed back (a database going away).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as the proxy received it: its method and its path with the query. */
export interface ProxiedRequest {
  method: string;
  url: string;
}

export interface ForwardingProxy {
  url: string;
  close(): Promise<void>;
}

/** Not passed on either way: they describe one connection or one encoding of the body, not the message. */
const HOP_HEADERS = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding']);

/**
 * Forwards every request to `target` (a base URL), its headers and body as they came, and passes the answer
 * back. `before` runs before the request is forwarded; `answered` once the whole answer is in, before it is
 * passed back. A failure (of a hook or of the call) answers 502 with its message.
 */
export async function startForwardingProxy(
  target: string,
  hooks: { before?(req: ProxiedRequest): Promise<void> | void; answered?(req: ProxiedRequest): Promise<void> | void } = {},
): Promise<ForwardingProxy> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const r: ProxiedRequest = { method: req.method ?? 'GET', url: req.url ?? '/' };
        await hooks.before?.(r);
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !HOP_HEADERS.has(k)) headers[k] = v;
        const answer = await fetch(`${target}${r.url}`, { method: r.method, headers, ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}) });
        const body = Buffer.from(await answer.arrayBuffer());
        await hooks.answered?.(r);
        res.writeHead(answer.status, Object.fromEntries([...answer.headers].filter(([k]) => !HOP_HEADERS.has(k)))).end(body);
      })().catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(502);
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
