#!/usr/bin/env node
// Launcher for the `selfheal` CLI: registers tsx's ESM loader, then runs src/cli/index.ts.
import process from 'node:process';
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/index.ts');
process.exitCode = await main(process.argv.slice(2));
