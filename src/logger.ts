import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths whose values are secrets; pino replaces them before anything is written. */
export const redactPaths = [
  'password',
  'token',
  'secret',
  'secrets',
  'privateKey',
  'authorization',
  '*.password',
  '*.token',
  '*.secret',
  '*.secrets',
  '*.privateKey',
  '*.authorization',
  '*.apiToken',
  '*.adminToken',
  '*.webhookSecrets',
  'req.headers.authorization',
  'req.headers["x-pagerduty-signature"]',
  'req.headers["proxy-authorization"]',
  'req.headers["x-forwarded-access-token"]',
  'headers.authorization',
  'headers["x-pagerduty-signature"]',
  'headers["proxy-authorization"]',
  'headers["x-forwarded-access-token"]',
  // dashboard sessions: the session cookie and the CSRF token derived from it
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'headers.cookie',
  'headers["x-csrf-token"]',
  '*.idToken',
  '*.csrfToken',
];

export function createLogger(opts: { level?: string; name?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    {
      name: opts.name ?? 'selfheal',
      level: opts.level ?? 'info',
      redact: { paths: redactPaths, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination,
  );
}
