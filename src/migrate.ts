// `npm run migrate`: bring the database schema up to date (also done automatically at start).
import { configOrExit, loggerFor, openMigratedDatabase } from './runtime.js';

const config = configOrExit('tool');
const logger = loggerFor(config, 'selfheal-migrate');
try {
  const { close } = await openMigratedDatabase(config, logger);
  await close();
  process.stdout.write('database schema is up to date\n');
} catch (err) {
  process.stderr.write(`migration failed: ${(err as Error).message}\n`);
  process.exit(1);
}
