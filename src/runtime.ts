import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { ConfigError, loadConfig, type Config, type ProcessRole } from './config.js';
import { openDatabase, type DatabaseHandle } from './db/connect.js';
import { migrateToLatest } from './db/migrate.js';
import { extractorsConfigSchema, type ExtractorsConfig } from './domain/extract.js';
import { createLogger, type Logger } from './logger.js';

/** Shared start-up steps of the composition roots (server, worker, dev). */

export function configOrExit(role: ProcessRole, env: Record<string, string | undefined> = process.env): Config {
  try {
    return loadConfig(env, { role });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

export function loggerFor(config: Config, name: string): Logger {
  return createLogger({ level: config.logLevel, name });
}

export async function openMigratedDatabase(config: Config, logger: Logger, url = config.database.url): Promise<DatabaseHandle> {
  const handle = await openDatabase({
    url,
    dataDir: config.dataDir,
    poolSize: config.database.poolSize,
    connectTimeoutMs: config.database.connectTimeoutMs,
    statementTimeoutMs: config.database.statementTimeoutMs,
  });
  const results = await migrateToLatest(handle.db);
  const applied = results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
  if (applied.length > 0) logger.info({ applied }, 'database migrated');
  return handle;
}

export async function loadExtractors(file: string | undefined): Promise<ExtractorsConfig> {
  if (!file) return {};
  const text = await readFile(file, 'utf8');
  const parsed = extractorsConfigSchema.safeParse(file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text));
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new ConfigError(`Invalid configuration: SELFHEAL_EXTRACTORS_FILE ${file}: ${i.path.join('.')} ${i.message}`, 'SELFHEAL_EXTRACTORS_FILE');
  }
  return parsed.data;
}

/** Where an error nothing handled came from: a throw no one caught, or a rejected promise no one awaited. */
export type FatalOrigin = 'uncaughtException' | 'unhandledRejection';

/** The exit code of a process stopped by an error nothing handled (as Node's own for an uncaught exception). */
export const FATAL_EXIT_CODE = 1;

/**
 * What a long-running process (API, worker, agent, dev) does with an error nothing handled: it logs it once
 * through `logger` (at fatal level, as fatalSummary says: its type, message, stack and code, no other field) and exits with FATAL_EXIT_CODE, so its supervisor
 * (Kubernetes, docker compose, systemd) starts it again. It does not go on: after such an error the
 * process's state is not known (a lease, a transaction or a connection may be left half done). Node's own
 * default also exits, but writes the error raw to stderr, secrets and all, outside the JSON log. A second
 * error while exiting is not logged again. The handler never throws (Node would exit with 7, the line unwritten).
 */
export function fatalErrorHandler(logger: Logger, exit: (code: number) => void = (code) => process.exit(code)): (err: unknown, origin: FatalOrigin) => void {
  let exiting = false;
  return (err, origin) => {
    if (exiting) return;
    exiting = true;
    try {
      logger.fatal({ err: fatalSummary(err), origin }, `${origin === 'unhandledRejection' ? 'unhandled promise rejection' : 'uncaught exception'}: exiting so the process is restarted`);
      logger.flush();
    } catch {
      process.stderr.write(`${origin}: the error could not be logged; exiting\n`);
    }
    exit(FATAL_EXIT_CODE);
  };
}

/**
 * What the fatal line says of the error: its type, message, stack and code, and nothing else. The logger's
 * redaction knows field names at the top of a logged object; an error nothing handled may carry anything
 * deeper (a client's request with its Authorization header, a URL with a password as an `input` field), so
 * no other field is written. A rejection's reason that is not an Error is named by its type only (and its
 * `code`, when it has one): a string may be a connection string.
 */
export function fatalSummary(err: unknown): { type: string; message?: string; stack?: string; code?: string | number } {
  const code = typeof err === 'object' && err !== null && 'code' in err && (typeof err.code === 'string' || typeof err.code === 'number') ? { code: err.code } : {};
  if (err instanceof Error) return { type: err.name, message: err.message, ...(err.stack ? { stack: err.stack } : {}), ...code };
  return { type: err === null ? 'null' : typeof err === 'object' ? (err.constructor?.name ?? 'object') : typeof err, ...code };
}

/** Installs {@link fatalErrorHandler} for uncaught exceptions and unhandled rejections; each entry point calls it once its logger exists. */
export function exitOnFatalError(logger: Logger, exit?: (code: number) => void): void {
  const handler = fatalErrorHandler(logger, exit);
  process.on('uncaughtException', (err) => handler(err, 'uncaughtException'));
  process.on('unhandledRejection', (reason) => handler(reason, 'unhandledRejection'));
}

/** Run `stop` once on SIGINT/SIGTERM; a second signal exits at once. */
export function onShutdown(logger: Logger, stop: () => Promise<void>): void {
  let stoppingSince = 0;
  const handler = (signal: string) => {
    if (stoppingSince) {
      // `npm start` forwards the terminal's Ctrl-C, so the same Ctrl-C arrives twice within a moment.
      if (Date.now() - stoppingSince < 2000) return;
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stoppingSince = Date.now();
    logger.info({ signal }, 'shutting down');
    stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err: { message: (err as Error).message } }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
