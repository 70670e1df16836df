import type { ApiClient } from './http-client.js';

/** Where a command writes and what environment it reads; tests pass their own. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
}

export interface GlobalOptions {
  /** API base URL: --url, else SELFHEAL_URL, else the default. */
  url: string;
  /** --url exactly as given (the pagerduty commands read it as the webhook URL). */
  urlFlag: string | undefined;
  token: string | undefined;
  /** Where `token` came from, for messages that must name it without showing it: `--token` or `SELFHEAL_TOKEN`. */
  tokenSource: string;
  /** --insecure-http, or SELFHEAL_INSECURE_HTTP=1: the token may go over plain http to a host that is not loopback. */
  insecureHttp: boolean;
  json: boolean;
}

/** What every command action receives besides its own options and arguments. */
export interface CommandContext {
  global: GlobalOptions;
  io: Io;
  api: ApiClient;
}
