import { Client, type ConnectionLike, type Metadata } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { tlsOptions, type TemporalTarget } from './connection.js';

type Services = Pick<ConnectionLike, 'workflowService' | 'operatorService'>;

/** gRPC's UNAVAILABLE: what a call answers while no connection can be made (as grpc-js answers then). */
const UNAVAILABLE = 14;

/** How long one connection attempt may take (a silent address otherwise holds it for 30 s). */
export const CONNECT_TIMEOUT_MS = 3000;

/**
 * A Temporal connection over the SDK's NativeConnection (the Rust core's gRPC client, the one the
 * worker uses), made on first use and made again on the next call after a failed attempt, so the API
 * starts, and answers 503, while Temporal is down.
 *
 * Why not grpc-js (`Connection.lazy`), which does this itself: every webhook's answer waits on one
 * signalWithStart, and the core's client does its HTTP/2 work on its own threads. In the same run, the
 * API's CPU per webhook was about a fifth lower and its ack p99 lower with it (docs/performance.md).
 * Hand-written because the SDK's NativeConnection only connects eagerly: this is the lazy wrapper.
 *
 * Calls made while an attempt is under way wait for it; a refused attempt, or one that took longer than
 * {@link CONNECT_TIMEOUT_MS}, fails them with UNAVAILABLE (code 14) naming the cause. A connection that
 * arrives after its attempt timed out is closed. Deadlines and metadata (`withDeadline`, `withMetadata`) are the
 * NativeConnection's own. Not supported by the NativeConnection, hence not here: `withAbortSignal`
 * runs `fn` but cannot cancel a call already sent.
 */
export class LazyNativeConnection implements ConnectionLike {
  readonly plugins = [];
  readonly workflowService: ConnectionLike['workflowService'];
  readonly operatorService: ConnectionLike['operatorService'];
  private attempt: Promise<NativeConnection> | undefined;
  private closed = false;

  constructor(
    private readonly connect: () => Promise<NativeConnection>,
    private readonly connectTimeoutMs = CONNECT_TIMEOUT_MS,
  ) {
    this.workflowService = this.service('workflowService');
    this.operatorService = this.service('operatorService');
  }

  /** The connection, made now if there is none (one attempt at a time; a failed one is forgotten). */
  native(): Promise<NativeConnection> {
    if (this.closed) return Promise.reject(new Error('the Temporal connection is closed'));
    this.attempt ??= this.attemptOnce().catch((err: unknown) => {
      this.attempt = undefined;
      throw Object.assign(new Error(`Temporal is unreachable: ${(err as Error).message}`), { code: UNAVAILABLE, cause: err });
    });
    return this.attempt;
  }

  private attemptOnce(): Promise<NativeConnection> {
    const connecting = this.connect();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`no connection within ${this.connectTimeoutMs} ms`));
        connecting.then((c) => c.close()).catch(() => undefined);
      }, this.connectTimeoutMs);
    });
    return Promise.race([connecting, late]).finally(() => clearTimeout(timer));
  }

  async ensureConnected(): Promise<void> {
    await this.native();
  }

  async withDeadline<R>(deadline: number | Date, fn: () => Promise<R>): Promise<R> {
    return (await this.native()).withDeadline(deadline, fn);
  }

  async withMetadata<R>(metadata: Metadata, fn: () => Promise<R>): Promise<R> {
    return (await this.native()).withMetadata(metadata, fn);
  }

  async withAbortSignal<R>(abortSignal: AbortSignal, fn: () => Promise<R>): Promise<R> {
    return (await this.native()).withAbortSignal(abortSignal, fn);
  }

  async close(): Promise<void> {
    this.closed = true;
    const attempt = this.attempt;
    this.attempt = undefined;
    const native = await attempt?.catch(() => undefined);
    await native?.close();
  }

  /**
   * A service whose every method connects first, then calls the NativeConnection's own. Its calls run
   * in the caller's async context, so a deadline or metadata set around them applies.
   */
  private service<K extends keyof Services>(name: K): Services[K] {
    return new Proxy({} as Services[K], {
      get: (_target, method) => {
        // Not a thenable, and no symbol lookups: only the service's RPC methods.
        if (typeof method !== 'string' || method === 'then') return undefined;
        return async (request: unknown) => {
          const rpcs = (await this.native())[name] as unknown as Record<string, (r: unknown) => Promise<unknown>>;
          const rpc = rpcs[method];
          if (typeof rpc !== 'function') throw new TypeError(`${name}.${method} is not a Temporal RPC`);
          return rpc.call(rpcs, request);
        };
      },
    });
  }
}

/** A client whose NativeConnection is made on first use: the API starts (and answers 503) while Temporal is down. */
export async function lazyTemporalClient(target: TemporalTarget): Promise<Client> {
  const tls = await tlsOptions(target);
  const connection = new LazyNativeConnection(() =>
    NativeConnection.connect({
      address: target.address,
      ...(tls ? { tls } : {}),
      ...(target.apiKey ? { apiKey: target.apiKey } : {}),
    }),
  );
  return new Client({ connection, namespace: target.namespace });
}
