// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
  {
    // src/contracts holds pure shapes and names every layer shares: it imports nothing but itself.
    files: ['src/contracts/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^(?!\\./)', message: 'src/contracts imports nothing outside src/contracts (pure shared shapes and names).' }] }],
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', process: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
