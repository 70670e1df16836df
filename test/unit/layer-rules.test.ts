// The layer rules `npm run lint` enforces (.dependency-cruiser.cjs) catch what they promise: a wrong-way import
// and an import cycle written on purpose make depcruise fail, naming the rule; the allowed forms (type-only
// kysely imports, activity types in workflows) pass. Each case writes throw-away modules into the tree, runs the
// same depcruise command lint runs on them, and deletes them whatever happens.
import assert from 'node:assert/strict';
import { assertClean, cruise, named } from '../helpers/depcruise.js';

describe('layer rules (npm run lint: depcruise)', function () {
  this.timeout(60_000);

  it('fails on a domain module that imports the database layer', () => {
    const run = cruise({ 'src/domain/__wrong_way.ts': "import { connect } from '../db/connect.js';\nexport const x = connect;\n" });
    assert.notEqual(run.status, 0, 'depcruise must exit non-zero');
    const hits = named(run, 'domain-pure');
    assert.deepEqual(
      hits.map((v) => [v.from, v.to]),
      [['src/domain/__wrong_way.ts', 'src/db/connect.ts']],
    );
  });

  it('fails on a domain module that imports configuration, even for a type', () => {
    const run = cruise({ 'src/domain/__wrong_way_config.ts': "import type { Config } from '../config.js';\nexport type X = Config;\n" });
    assert.notEqual(run.status, 0);
    assert.deepEqual(named(run, 'domain-pure').map((v) => v.to), ['src/config.ts']);
  });

  it('fails on a domain module that does I/O (a Node built-in, a database driver)', () => {
    const run = cruise({ 'src/domain/__wrong_way_io.ts': "import { readFileSync } from 'node:fs';\nimport pg from 'pg';\nexport const x = [readFileSync, pg];\n" });
    assert.notEqual(run.status, 0);
    assert.equal(named(run, 'pure-layers-no-io').length, 2, run.output);
  });

  it('fails on a module importing zod itself, even for a type; z from src/domain/zod.ts passes', () => {
    const direct = cruise({ 'src/pagerduty/__wrong_way_zod.ts': "import { z } from 'zod';\nimport type { ZodType } from 'zod/v4';\nexport const x = z.string();\nexport type X = ZodType;\n" });
    assert.notEqual(direct.status, 0);
    assert.equal(named(direct, 'zod-through-one-module').length, 2, direct.output);

    const central = cruise({ 'src/pagerduty/__one_zod.ts': "import { z } from '../domain/zod.js';\nexport const x = z.string();\n" });
    assertClean(central);
  });

  it('fails on an import cycle, and passes once the arrow is one-way', () => {
    const cycle = cruise({
      'src/domain/__cycle_a.ts': "import { b } from './__cycle_b.js';\nexport const a = (): number => b() + 1;\n",
      'src/domain/__cycle_b.ts': "import { a } from './__cycle_a.js';\nexport const b = (): number => (a.length > 0 ? 1 : 0);\n",
    }, true);
    assert.notEqual(cycle.status, 0);
    const hits = named(cycle, 'no-circular');
    assert.ok(hits.length >= 1, cycle.output);
    assert.ok(hits.every((v) => v.from.startsWith('src/domain/__cycle_')));

    const oneWay = cruise({
      'src/domain/__cycle_a.ts': "import { b } from './__cycle_b.js';\nexport const a = (): number => b() + 1;\n",
      'src/domain/__cycle_b.ts': 'export const b = (): number => 1;\n',
    }, true);
    assertClean(oneWay);
  });

  it('fails on a workflow that loads an activity module, not on one that imports its types', () => {
    const loads = cruise({ 'workflows/__wrong_way.ts': "import { createJobActivities } from '../activities/jobs.js';\nexport const x = createJobActivities;\n" });
    assert.notEqual(loads.status, 0);
    assert.deepEqual(named(loads, 'workflows-only-activity-types').map((v) => v.to), ['activities/jobs.ts']);

    const types = cruise({ 'workflows/__types_only.ts': "import type { createJobActivities } from '../activities/jobs.js';\nexport type X = typeof createJobActivities;\n" });
    assertClean(types);
  });

  it('fails on a workflow that imports a Node built-in', () => {
    const run = cruise({ 'workflows/__wrong_way_fs.ts': "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n" });
    assert.notEqual(run.status, 0);
    assert.equal(named(run, 'workflows-sdk-only').length, 1);
  });

  it('fails on an activity or the CLI importing the API layer', () => {
    const activity = cruise({ 'activities/__wrong_way.ts': "import { problem } from '../src/api/problem.js';\nexport const x = problem;\n" });
    assert.notEqual(activity.status, 0);
    assert.deepEqual(named(activity, 'activities-services-not-up').map((v) => v.to), ['src/api/problem.ts']);

    const cli = cruise({ 'src/cli/__wrong_way.ts': "import { problem } from '../api/problem.js';\nexport const x = problem;\n" });
    assert.notEqual(cli.status, 0);
    assert.deepEqual(named(cli, 'cli-is-a-client').map((v) => v.to), ['src/api/problem.ts']);
  });

  it('fails on an activity loading the workflow SDK, and on a repository importing what calls it', () => {
    const activity = cruise({ 'activities/__wrong_way_sdk.ts': "import { sleep } from '@temporalio/workflow';\nexport const x = sleep;\n" });
    assert.notEqual(activity.status, 0);
    assert.equal(named(activity, 'activities-services-not-up').length, 1, activity.output);

    const repository = cruise({ 'src/db/__wrong_way.ts': "import { problem } from '../api/problem.js';\nimport { runScript } from '../executors/script-runner.js';\nexport const x = [problem, runScript];\n" });
    assert.notEqual(repository.status, 0);
    assert.deepEqual(named(repository, 'db-is-the-bottom').map((v) => v.to).sort(), ['src/api/problem.ts', 'src/executors/script-runner.ts']);
  });

  it('fails on the CLI loading a server library', () => {
    const run = cruise({ 'src/cli/__wrong_way_pkg.ts': "import { Hono } from 'hono';\nimport pino from 'pino';\nexport const x = [Hono, pino];\n" });
    assert.notEqual(run.status, 0);
    assert.equal(named(run, 'cli-no-server-packages').length, 2, run.output);
  });

  it('fails on kysely loaded at run time outside src/db; a type-only import passes', () => {
    const runtime = cruise({ 'src/executors/__wrong_way.ts': "import { sql } from 'kysely';\nexport const x = sql;\n" });
    assert.notEqual(runtime.status, 0);
    assert.equal(named(runtime, 'kysely-only-in-db').length, 1);

    const typeOnly = cruise({ 'src/executors/__types_only.ts': "import type { Kysely } from 'kysely';\nexport type X = Kysely<object>;\n" });
    assertClean(typeOnly);
  });
});
