// A recording HTTP peer on loopback: routes answer by method and path pattern, every request is recorded
// (headers, raw and parsed body), a handler's shape check failing becomes a 400 and a violation the test can
// assert, and an answer can be forced or lost. The SaaS stand-ins built on it are in http-peer.ts.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** Parsed JSON body, or undefined when the body is empty or not JSON. */
  json: unknown;
  /** Named groups of the route's path pattern. */
  params: Record<string, string>;
  /** When the request's head arrived (Date.now()): pauses between attempts are read from these. */
  at: number;
}

export interface PeerResponse {
  status: number;
  json?: unknown;
  text?: string;
  headers?: Record<string, string>;
}

export type RouteHandler = (req: RecordedRequest) => PeerResponse | Promise<PeerResponse>;

export interface Route {
  method: string;
  /** Exact path, or a RegExp with named groups matched against the path (without query). */
  path: string | RegExp;
  handle: RouteHandler;
}

/** Thrown by handlers when a request violates the documented shape; answered 400 with the message. */
export class ShapeError extends Error {}

/** Asserts a request-shape condition inside a handler. */
export function expectShape(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ShapeError(message);
}

export interface HttpPeer {
  url: string;
  requests: RecordedRequest[];
  /** Shape violations answered with 400, for assertions. */
  violations: string[];
  /** The next matching request gets this answer instead of the handler's (e.g. 500, 429). */
  failNext(response: PeerResponse): void;
  /**
   * The next request to `method` (and path, when given) is handled (the object is created) and then its
   * answer is lost: 'drop' closes the connection without a reply; { delayMs } replies only after that long
   * (past the caller's timeout). `lost` counts the answers lost so far.
   */
  loseNextAnswer(how: LostAnswer, match?: { method?: string; path?: string | RegExp }): void;
  lost: number;
  close(): Promise<void>;
}

export type LostAnswer = 'drop' | { delayMs: number };

/** A local HTTP peer on 127.0.0.1 (port 0) that records requests and answers through route handlers. */
export async function startHttpPeer(routes: Route[]): Promise<HttpPeer> {
  const requests: RecordedRequest[] = [];
  const violations: string[] = [];
  const forced: PeerResponse[] = [];
  const losses: { how: LostAnswer; method?: string; path?: string | RegExp }[] = [];
  const state = { lost: 0 };
  const delayed = new Set<NodeJS.Timeout>();
  /** Deliver `answer`, unless a loss was armed for this request: then close or stall instead. */
  const answerOrLose = (req: RecordedRequest, res: ServerResponse, answer: PeerResponse): void => {
    const i = losses.findIndex(
      (l) => (!l.method || l.method === req.method) && (!l.path || (typeof l.path === 'string' ? l.path === req.path : l.path.test(req.path))),
    );
    if (i === -1) return send(res, answer);
    const [loss] = losses.splice(i, 1);
    state.lost += 1;
    if (loss!.how === 'drop') {
      res.socket?.destroy();
      return;
    }
    const timer = setTimeout(() => {
      delayed.delete(timer);
      if (!res.destroyed) send(res, answer);
    }, loss!.how.delayMs);
    delayed.add(timer);
  };
  const send = (res: ServerResponse, answer: PeerResponse): void => {
    const headers: Record<string, string> = { ...answer.headers };
    let body = '';
    if (answer.json !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = JSON.stringify(answer.json);
    } else if (answer.text !== undefined) {
      headers['content-type'] ??= 'text/plain';
      body = answer.text;
    }
    res.writeHead(answer.status, headers).end(body);
  };

  const server = createServer((req, res) => {
    const at = Date.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        const rawBody = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = rawBody === '' ? undefined : (JSON.parse(rawBody) as unknown);
        } catch {
          json = undefined;
        }
        const recorded: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, rawBody, json, params: {}, at };
        requests.push(recorded);
        for (const route of routes) {
          if (route.method !== recorded.method) continue;
          let params: Record<string, string> | null = null;
          if (typeof route.path === 'string') params = route.path === recorded.path ? {} : null;
          else {
            const m = route.path.exec(recorded.path);
            params = m ? { ...m.groups } : null;
          }
          if (params === null) continue;
          recorded.params = params;
          const override = forced.shift();
          if (override) return send(res, override);
          try {
            return answerOrLose(recorded, res, await route.handle(recorded));
          } catch (err) {
            if (err instanceof ShapeError) {
              violations.push(`${recorded.method} ${recorded.path}: ${err.message}`);
              return send(res, { status: 400, json: { error: err.message } });
            }
            return send(res, { status: 500, json: { error: (err as Error).message } });
          }
        }
        send(res, { status: 404, json: { error: `no route for ${recorded.method} ${recorded.path}` } });
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    violations,
    failNext: (response) => forced.push(response),
    loseNextAnswer: (how, match = {}) => losses.push({ how, ...match }),
    get lost() {
      return state.lost;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const t of delayed) clearTimeout(t);
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
