import net from 'node:net';

/** A loopback TCP proxy that can cut every connection and refuse new ones (an "outage"), or stall them. */
export interface TcpProxy {
  port: number;
  /** Close every open connection and refuse new ones until up(). */
  down(): void;
  /**
   * Close every open connection and stop listening until up(): a new connection is refused by the
   * system (ECONNREFUSED), as while Postgres restarts, where down() accepts it and closes it at once.
   */
  refuse(): void;
  up(): void;
  /** Keep connections open but forward nothing, either way, until resume(): a server that stopped answering. */
  stall(): void;
  resume(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  let isUp = true;
  let stalled = false;
  /** Each open connection: the client's socket and ours to the target. */
  const pairs = new Set<[net.Socket, net.Socket]>();
  const destroyAll = () => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    pairs.clear();
  };
  const forward = ([a, b]: [net.Socket, net.Socket]) => {
    a.pipe(b);
    b.pipe(a);
  };
  const server = net.createServer((client) => {
    if (!isUp) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: targetHost, port: targetPort });
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    if (!stalled) forward(pair);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    down() {
      isUp = false;
      destroyAll();
    },
    refuse() {
      isUp = false;
      destroyAll();
      if (server.listening) server.close();
    },
    up() {
      isUp = true;
      if (!server.listening) server.listen(port, '127.0.0.1');
    },
    stall() {
      stalled = true;
      for (const [a, b] of pairs) {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
      }
    },
    resume() {
      stalled = false;
      for (const pair of pairs) forward(pair);
    },
    close: () =>
      new Promise<void>((r) => {
        destroyAll();
        if (server.listening) server.close(() => r());
        else r();
      }),
  };
}

/**
 * A loopback TCP proxy whose directions can be slowed down from some moment on (a far-away server): each
 * chunk is delivered `ms` after it arrived, in order; server to client with delayReplies, client to server
 * with delayRequests.
 */
export async function startDelayingProxy(
  targetHost: string,
  targetPort: number,
): Promise<{ port: number; delayReplies(ms: number): void; delayRequests(ms: number): void; close(): Promise<void> }> {
  let delayMs = 0;
  let requestDelayMs = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: targetHost, port: targetPort });
    sockets.add(client).add(upstream);
    let last = 0;
    let lastRequest = 0;
    client.on('data', (d) => {
      const at = Math.max(Date.now() + requestDelayMs, lastRequest);
      lastRequest = at;
      if (at <= Date.now()) upstream.write(d);
      else setTimeout(() => upstream.writable && upstream.write(d), at - Date.now());
    });
    upstream.on('data', (d) => {
      // Never before the chunk ahead of it.
      const at = Math.max(Date.now() + delayMs, last);
      last = at;
      setTimeout(() => client.writable && client.write(d), at - Date.now());
    });
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    // The server's close comes after what it sent before it.
    upstream.on('error', drop).on('close', () => setTimeout(drop, Math.max(0, last - Date.now())));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    delayReplies(ms) {
      delayMs = ms;
    },
    delayRequests(ms) {
      requestDelayMs = ms;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A proxy in front of the Postgres server of `databaseUrl`, and the same URL pointed through it. */
export async function proxyDatabase(databaseUrl: string): Promise<{ proxy: TcpProxy; url: string }> {
  const target = new URL(databaseUrl);
  const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  const url = new URL(databaseUrl);
  url.port = String(proxy.port);
  return { proxy, url: url.toString() };
}
