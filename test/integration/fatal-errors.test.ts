// An error nothing handled (an uncaught exception, a promise rejected that no one awaited) in a long-running
// process (API, worker, agent, dev): logged once through the project's logger, redaction applied, and the
// process exits non-zero so its supervisor starts it again (src/runtime.ts, fatalErrorHandler). Node's own
// default exited too, but wrote the error raw on stderr, a secret field of it included, outside the log.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { createLogger } from '../../src/logger.js';
import { FATAL_EXIT_CODE, fatalErrorHandler } from '../../src/runtime.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runNodeToExit } from '../helpers/fault-process.js';


const run = runNodeToExit;

type Line = { level: number; msg: string; origin?: string; name?: string; err?: Record<string, unknown> };
const fatalLines = (stdout: string): Line[] =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line)
    .filter((l) => l.level === 60);

describe('an error nothing handled: logged through the logger, then the process exits non-zero', function () {
  this.timeout(120_000);

  it('the handler logs the error once at fatal level, no field but its type, message, stack and code, and exits with 1; a second error while exiting is not logged', function () {
    const lines: Line[] = [];
    const logger = createLogger({ destination: { write: (l: string) => void lines.push(JSON.parse(l) as Line) } });
    const exits: number[] = [];
    const handle = fatalErrorHandler(logger, (code) => void exits.push(code));
    handle(Object.assign(new Error('connection lost'), { token: 'tok-s3cret', authorization: 'Bearer s3cret', config: { headers: { Authorization: 'Bearer NESTED-s3cret' } }, input: 'postgres://u:HUNTER2@db' }), 'uncaughtException');
    handle(new Error('a second one'), 'unhandledRejection');
    assert.deepEqual(exits, [FATAL_EXIT_CODE]);
    assert.equal(FATAL_EXIT_CODE, 1);
    assert.equal(lines.length, 1);
    const [line] = lines;
    assert.deepEqual([line!.level, line!.msg, line!.origin], [60, 'uncaught exception: exiting so the process is restarted', 'uncaughtException']);
    // Its type, message, stack and code only: a secret nested deeper than the redaction's paths (a client's
    // request headers, a URL given as `input`) is not written either.
    assert.deepEqual(Object.keys(line!.err!).sort(), ['message', 'stack', 'type']);
    assert.equal(line!.err!.message, 'connection lost');
    assert.doesNotMatch(JSON.stringify(line), /s3cret|HUNTER2/);
    assert.match(String(line!.err!.stack), /connection lost/);
    // A rejection's reason need not be an Error: it is named by its type (and code), nothing of it written.
    const more: Line[] = [];
    const other = fatalErrorHandler(createLogger({ destination: { write: (l: string) => void more.push(JSON.parse(l) as Line) } }), () => undefined);
    other({ password: 'pw-s3cret', code: 42 }, 'unhandledRejection');
    assert.deepEqual([more[0]!.msg, more[0]!.err], ['unhandled promise rejection: exiting so the process is restarted', { type: 'Object', code: 42 }]);
    const text: Line[] = [];
    fatalErrorHandler(createLogger({ destination: { write: (l: string) => void text.push(JSON.parse(l) as Line) } }), () => undefined)('postgres://u:HUNTER2@db', 'unhandledRejection');
    assert.deepEqual(text[0]!.err, { type: 'string' });
  });

  it('a promise rejected that no one awaits, in a process with the handler installed: the fatal line on stdout, nothing raw on stderr, exit 1', async function () {
    const script = [
      "import { createLogger } from './src/logger.ts';",
      "import { exitOnFatalError } from './src/runtime.ts';",
      "exitOnFatalError(createLogger({ name: 'selfheal-test' }));",
      "void Promise.reject(Object.assign(new Error('lost the database'), { token: 'tok-s3cret' }));",
      'setInterval(() => undefined, 1000);',
    ].join('\n');
    const r = await run(['--import', 'tsx', '--input-type=module', '-e', script], {});
    assert.equal(r.code, 1, r.stderr);
    const lines = fatalLines(r.stdout);
    assert.equal(lines.length, 1, r.stdout);
    assert.deepEqual([lines[0]!.name, lines[0]!.msg, lines[0]!.err!.message, lines[0]!.err!.token], ['selfheal-test', 'unhandled promise rejection: exiting so the process is restarted', 'lost the database', undefined]);
    assert.equal(r.stderr, '');
    assert.ok(!r.stdout.includes('tok-s3cret'));
  });

  describe('the API started on a port already taken (the listen error nothing handles)', function () {
    let db: TestDatabase;
    let taken: Server;
    let port: number;
    before(async () => {
      db = await createTestDatabase();
      taken = createServer();
      await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
      port = (taken.address() as { port: number }).port;
    });
    after(async () => {
      await new Promise<void>((r) => taken.close(() => r()));
      await db.close();
    });

    it('logs the fatal line through its logger and exits with 1, for its supervisor to start it again', async function () {
      const r = await run(['--import', 'tsx', 'src/server.ts'], { NODE_ENV: 'test', HOST: '127.0.0.1', PORT: String(port), DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
      assert.equal(r.code, 1, r.stderr);
      const lines = fatalLines(r.stdout);
      assert.equal(lines.length, 1, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
      assert.deepEqual([lines[0]!.name, lines[0]!.origin, lines[0]!.err!.code], ['selfheal-api', 'uncaughtException', 'EADDRINUSE']);
    });
  });

  it('the worker, the agent and the dev process install the same handler once their logger exists', async function () {
    for (const [file, name] of [['src/server.ts', 'selfheal-api'], ['src/worker.ts', 'selfheal-worker'], ['src/agent.ts', 'selfheal-agent'], ['src/dev.ts', 'selfheal-dev']] as const) {
      const text = await readFile(new URL(`../../${file}`, import.meta.url), 'utf8');
      assert.ok(text.includes(`const logger = loggerFor(config, '${name}');\n  exitOnFatalError(logger);`), file);
    }
  });
});
