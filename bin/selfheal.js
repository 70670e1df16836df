#!/usr/bin/env node
// Launcher for the `selfheal` CLI: registers tsx's ESM loader, then runs src/cli/index.ts.
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';
import { register } from 'tsx/esm/api';

// The CLI's own tsconfig.json, never the working folder's: tsx otherwise reads the tsconfig of the folder
// it runs in, whose `paths` can point the CLI's imports (commander, yaml) at that folder's code, so that
// `selfheal diff` run in a pull request's checkout would run the change's code with the token.
register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
const { main } = await import('../src/cli/index.ts');
process.exitCode = await main(process.argv.slice(2));
