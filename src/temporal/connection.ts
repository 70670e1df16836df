import { readFile } from 'node:fs/promises';
import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config.js';

export interface TemporalTarget {
  address: string;
  namespace: string;
  tls?: { certPath?: string | undefined; keyPath?: string | undefined; caPath?: string | undefined };
  apiKey?: string | undefined;
}

export function temporalTarget(config: Config, address: string): TemporalTarget {
  return { address, namespace: config.temporal.namespace, tls: config.temporal.tls, apiKey: config.temporal.apiKey };
}

/** TLS settings shared by the client Connection and the worker NativeConnection (mTLS for Temporal Cloud or a private cluster). */
export async function tlsOptions(target: TemporalTarget) {
  const { certPath, keyPath, caPath } = target.tls ?? {};
  if (!certPath && !keyPath && !caPath && !target.apiKey) return undefined;
  return {
    ...(certPath && keyPath ? { clientCertPair: { crt: await readFile(certPath), key: await readFile(keyPath) } } : {}),
    ...(caPath ? { serverRootCACertificate: await readFile(caPath) } : {}),
  };
}

export async function connectClient(target: TemporalTarget, opts: { connectTimeoutMs?: number } = {}): Promise<Client> {
  const tls = await tlsOptions(target);
  const connection = await Connection.connect({
    address: target.address,
    ...(tls ? { tls } : {}),
    ...(target.apiKey ? { apiKey: target.apiKey } : {}),
    connectTimeout: opts.connectTimeoutMs ?? 10_000,
  });
  return new Client({ connection, namespace: target.namespace });
}
