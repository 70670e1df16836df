// Layer rules, checked by `npm run lint` (`depcruise src activities workflows`).
//
// Arrows run one way:
//   src/contracts  <- src/domain  <- src/db, src/services, src/executors, src/temporal, activities, workflows,
//   src/api, src/cli, the composition roots (src/server.ts, src/worker.ts, src/agent.ts, src/dev.ts, ...).
// contracts and domain import nothing above them; workflows import only contracts, domain, the workflow SDK and
// activity *types*; activities and services never import the API, the CLI or workflows; the CLI is an HTTP client
// (contracts, domain, its own modules); only src/db may load kysely at run time; no import cycle anywhere.
//
// Type-only imports are read as well (tsPreCompilationDeps), so `import type` counts for every rule except the
// ones that say otherwise (activity types in workflows, kysely types outside src/db).

/** Our own code (as opposed to packages and Node built-ins). */
const OURS = '^(src|activities|workflows)/';

/** A rule: modules under `from` import, of our code, only what `allowed` (path patterns) names. */
function mayImportOnly(name, comment, from, allowed) {
  return { name, severity: 'error', comment, from: { path: from }, to: { path: OURS, pathNot: allowed } };
}

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle: break it by moving the shared piece into the lower module (or src/contracts).',
      from: {},
      to: { circular: true },
    },
    mayImportOnly('contracts-pure', 'src/contracts holds pure shared shapes and names: it imports nothing but itself.', '^src/contracts/', ['^src/contracts/']),
    mayImportOnly(
      'domain-pure',
      'src/domain is pure: of our code it imports src/contracts, itself and the PagerDuty payload schema ' +
        '(src/pagerduty/parse.ts), never I/O, configuration or a layer above it.',
      '^src/domain/',
      ['^src/(domain|contracts)/', '^src/pagerduty/parse\\.ts$'],
    ),
    {
      name: 'pure-layers-no-io',
      severity: 'error',
      comment:
        'src/contracts and src/domain do no I/O: no Node built-in, and of packages only the pure ones they need ' +
        '(zod and its OpenAPI extension, re2js, ipaddr.js, cron-parser, @noble/hashes). Add a package here only if it does no I/O.',
      from: { path: '^src/(contracts|domain)/' },
      to: {
        dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown', 'core'],
        dependencyTypesNot: ['type-only'],
        pathNot: '^node_modules/(zod|@asteasolutions/zod-to-openapi|re2js|ipaddr\\.js|cron-parser|@noble/hashes)/',
      },
    },
    {
      name: 'zod-through-one-module',
      severity: 'error',
      comment:
        "Import z from src/domain/zod.ts, never from 'zod' (or 'zod/v4', ...) itself: that module applies the OpenAPI " +
        'extension before any schema is built. zod 4 gives a schema `.openapi()` only if the extension ran before the ' +
        'schema was built, so a schema module loaded before @hono/zod-openapi broke the OpenAPI registry ' +
        "(\"zodSchema.openapi is not a function\") depending on which module a process happened to load first.",
      from: { path: OURS, pathNot: '^src/domain/zod\\.ts$' },
      to: { path: '^node_modules/zod/' },
    },
    mayImportOnly(
      'workflows-pure',
      'Workflows are pure orchestration: of our code they import src/contracts, src/domain, the names Temporal ' +
        'stores (src/temporal/names.ts), the PagerDuty payload schema, each other and activity types.',
      '^workflows/',
      ['^workflows/', '^src/(contracts|domain)/', '^src/temporal/names\\.ts$', '^src/pagerduty/parse\\.ts$', '^activities/'],
    ),
    {
      name: 'workflows-only-activity-types',
      severity: 'error',
      comment: 'Workflows may see activities only as types (import type), never load them into the sandbox.',
      from: { path: '^workflows/' },
      to: { path: '^activities/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'workflows-sdk-only',
      severity: 'error',
      comment: 'Workflows run in the deterministic sandbox: of packages only the workflow SDK (and @temporalio/common).',
      from: { path: '^workflows/' },
      to: {
        dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown', 'core'],
        dependencyTypesNot: ['type-only'],
        pathNot: '^node_modules/@temporalio/(workflow|common)/',
      },
    },
    {
      name: 'activities-services-not-up',
      severity: 'error',
      comment:
        'Activities, services and the metrics reader are called by workflows, routes and the server; they never ' +
        'import the API, the CLI or workflows (shared names and shapes live in src/contracts), nor load the workflow SDK.',
      from: { path: '^(activities/|src/services/|src/metrics\\.ts$)' },
      to: { path: ['^(src/api|src/cli|workflows)/', '^node_modules/@temporalio/workflow/'] },
    },
    mayImportOnly(
      'db-is-the-bottom',
      'src/db (schema, migrations, repositories) holds the SQL and nothing above it: of our code it imports itself, ' +
        'src/contracts, src/domain and the PagerDuty payload schema, never what calls it.',
      '^src/db/',
      ['^src/(db|contracts|domain)/', '^src/pagerduty/parse\\.ts$'],
    ),
    // src/pagerduty is a PagerDuty client library (zod, node:crypto; it imports nothing of ours, see
    // pagerduty-leaf): `selfheal pagerduty` is a PagerDuty client itself (signs test deliveries, calls the REST API).
    mayImportOnly('cli-is-a-client', 'The CLI talks to the server over HTTP: it imports src/contracts, src/domain, its own modules and the bounded body reader (src/http-body.ts) only.', '^src/cli/', [
      '^src/(contracts|domain|cli|pagerduty)/',
      '^src/http-body\\.ts$',
    ]),
    mayImportOnly(
      'pagerduty-leaf',
      'src/pagerduty (webhook schema, signature, REST client) is a leaf the CLI and server share: it imports only itself, contracts, domain and the bounded body reader (src/http-body.ts).',
      '^src/pagerduty/',
      ['^src/(pagerduty|contracts|domain)/', '^src/http-body\\.ts$'],
    ),
    {
      name: 'cli-no-server-packages',
      severity: 'error',
      comment: 'The CLI loads no server library (database, HTTP server, Temporal, logger, SSH, mail, metrics): it talks to the server over HTTP.',
      from: { path: '^src/cli/' },
      to: { path: '^node_modules/(kysely|pg|pg-[^/]+|hono|@hono/[^/]+|@temporalio/[^/]+|pino|ssh2|nodemailer|prom-client|@electric-sql/[^/]+)/' },
    },
    {
      name: 'dashboard-client-no-packages',
      severity: 'error',
      comment: 'The dashboard bundle loads no package but uplot (the backtest chart) and no Node built-in: it runs in the browser.',
      from: { path: '^src/dashboard/client/' },
      to: {
        dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown', 'core'],
        dependencyTypesNot: ['type-only'],
        pathNot: '^node_modules/uplot/',
      },
    },
    {
      name: 'dashboard-client-domain-types-only',
      severity: 'error',
      comment: 'The dashboard takes only types from src/domain (import type): the bundle carries no server-side model code.',
      from: { path: '^src/dashboard/client/' },
      to: { path: '^src/domain/', dependencyTypesNot: ['type-only'] },
    },
    mayImportOnly(
      'dashboard-client-browser-only',
      'The dashboard bundle (src/dashboard/client) imports its own modules, src/contracts and src/domain (types only, see eslint.config.js), never server code.',
      '^src/dashboard/client/',
      ['^src/dashboard/client/', '^src/(contracts|domain)/'],
    ),
    {
      name: 'kysely-only-in-db',
      severity: 'error',
      comment:
        'Only src/db (connection, migrations, repositories) loads kysely at run time; elsewhere import its types ' +
        'only (import type) and call a repository.',
      from: { path: '^(src|activities|workflows)/', pathNot: '^src/db/' },
      to: { path: '^node_modules/kysely/', dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/dashboard/client/.*\\.css$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
