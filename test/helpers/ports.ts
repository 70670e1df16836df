import { createServer } from 'node:net';

/**
 * Linux hands out outbound connections' local ports from 32768–60999 (ip_local_port_range). A port a test
 * picks for a child process to bind later must come from below that range: one picked by listening on
 * port 0 lies inside it, and while the child starts (seconds under tsx) any connection the suite opens may
 * take it as its own local port, so the child fails with "Address already in use".
 */
const LOW = 20_000;
const HIGH = 32_767;

async function isFree(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A loopback port nothing listens on, outside the ephemeral range, for a child process to bind. */
export async function unusedPort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW + 1));
    if (await isFree(port)) return port;
  }
  throw new Error(`no free loopback port between ${LOW} and ${HIGH}`);
}
