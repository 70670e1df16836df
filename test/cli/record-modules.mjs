// Loaded with `node --import`: records the URL of every module the process resolves (synchronous
// module hooks see tsx's resolutions too) and writes them, one per line, to $SELFHEAL_LOADED_MODULES at exit.
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';
import process from 'node:process';

const seen = new Set();
registerHooks({
  resolve(specifier, context, next) {
    const result = next(specifier, context);
    seen.add(result.url);
    return result;
  },
});
process.on('exit', () => {
  if (process.env.SELFHEAL_LOADED_MODULES) writeFileSync(process.env.SELFHEAL_LOADED_MODULES, [...seen].join('\n'));
});
