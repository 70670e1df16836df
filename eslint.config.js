// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The dashboard's browser code (src/dashboard/client) is bundled for the browser: it may import its own
// modules, src/contracts, *types* from src/domain and the one vetted package (uplot, the backtest chart);
// never another package or a server module. Import paths
// are relative, so there is one block per folder depth (up to 3 below client/); src/dashboard/bundle.ts
// checks the bundle's inputs as well, at any depth.
const dashboardClientImports = [0, 1, 2, 3].map((depth) => {
  const toSrc = '\\.\\./'.repeat(depth + 2); // from the file's folder up to src/
  const outOfClient = '\\.\\./'.repeat(depth + 1); // from the file's folder up to src/dashboard/
  return {
    files: [`src/dashboard/client/${'*/'.repeat(depth)}*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^(?!uplot$)[^.]', message: 'The dashboard bundles no packages (but uplot) and no Node built-ins: use the browser and the client modules.' },
            { regex: `^${toSrc}domain/`, allowTypeImports: true, message: 'The dashboard may import only types from src/domain (import type).' },
            { regex: `^${outOfClient}(?!\\.\\./(?:contracts|domain)/)`, message: 'The dashboard may import only its own modules, src/contracts and types from src/domain: never server code.' },
          ],
        },
      ],
    },
  };
});

export default tseslint.config(
  { ignores: ['node_modules/**', '.data/**', 'dist/**', 'test-artifacts/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Habit 1: workflows are pure orchestration. Only the workflow SDK, pure domain modules and
    // activity *types* may be imported, so the sandbox never sees I/O.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity'], message: 'Workflows may not import Temporal client/worker/activity packages.' },
            { group: ['node:*', 'fs', 'path', 'child_process', 'net', 'http', 'https', 'crypto', 'os'], message: 'Workflows must stay deterministic: no Node built-ins.' },
            { group: ['pg', 'kysely', 'hono', 'pino', 'ssh2', 'nodemailer'], message: 'Workflows must stay deterministic: do I/O in activities.' },
            { group: ['../src/db/*', '../src/api/*', '../src/executors/*', '../src/temporal/*', '!../src/temporal/names.js', '../src/config*', '../src/logger*'], message: 'Workflows may import only pure modules (src/domain, src/pagerduty/parse, src/temporal/names).' },
          ],
        },
      ],
    },
  },
  ...dashboardClientImports,
  {
    // The CLI is a client of the REST API: it imports pure modules (src/domain, src/pagerduty) and talks to
    // the server through src/cli/http-client.ts only, so `selfheal rules list` never loads server code.
    files: ['src/cli/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/api', '**/api/**', '**/db', '**/db/**', '**/activities', '**/activities/**', '**/workflows', '**/workflows/**', '**/executors', '**/executors/**', '**/temporal/**', '**/src/config*', '**/src/logger*', '**/src/metrics*', '**/src/server*', '**/src/worker*', '**/src/agent*', '**/src/dev*'],
              message: 'The CLI may not import server code: use src/cli/http-client.ts, or move the pure helper to src/domain.',
            },
            {
              group: ['kysely', 'kysely/*', 'pg', 'pg-*', 'hono', 'hono/*', '@hono/*', '@temporalio/*', 'pino', 'ssh2', 'nodemailer', 'prom-client', '@electric-sql/*'],
              message: 'The CLI may not load server libraries: it talks to the server over HTTP.',
            },
          ],
        },
      ],
    },
  },
  {
    // src/contracts holds pure shapes and names every layer shares: it imports nothing but itself.
    files: ['src/contracts/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^(?!\\./)', message: 'src/contracts imports nothing outside src/contracts (pure shared shapes and names).' }] }],
    },
  },
  {
    // Activities (and the metrics reader) are thin callers: their SQL lives in src/db/repositories (kysely
    // only as types), the names they share with workflows in src/contracts. They never import workflows
    // (which load the workflow SDK), the API or the CLI.
    files: ['activities/**/*.ts', 'src/metrics.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/workflows', '**/workflows/**', '@temporalio/workflow'], message: 'Activities may not import workflows: shared names and shapes live in src/contracts.' },
            { group: ['**/src/api', '**/src/api/**', '**/src/cli', '**/src/cli/**', './api/**', './cli/**'], message: 'Activities may not import the API or the CLI.' },
            { group: ['kysely'], allowTypeImports: true, message: 'SQL lives in src/db/repositories: call a repository function (kysely only as types here).' },
          ],
        },
      ],
    },
  },
  {
    // Repositories hold the SQL and nothing above it: they import the schema, contracts and pure domain types.
    files: ['src/db/repositories/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/activities', '**/activities/**', '**/workflows', '**/workflows/**', '../../api/**', '../../cli/**', '../../services/**', '../../executors/**', '../../temporal/**', '@temporalio/*', 'hono', 'hono/*'],
              message: 'Repositories import only the database schema, src/contracts and src/domain: nothing that calls them.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', process: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
