// The workflow bundle carries only what workflow code needs. With the reusable V8 context, every workflow
// the worker starts (an incident, each rule run, each one evicted from the cache and replayed) runs the
// code of every module in the bundle again; a schema library there is built again each time (before
// 2026-12-03 zod and the action schemas came in through one constant, and took about a third of the
// workflow thread's CPU in a storm). Third-party packages in the bundle are the SDK's own.
import assert from 'node:assert/strict';
import { workflowBundle } from '../../src/temporal/worker.js';

/** Webpack's module ids in the bundle (`./node_modules/zod/v4/core/core.js`, `./src/domain/text.ts`). */
const moduleIds = (code: string): string[] => [...code.matchAll(/^\/\*\*\*\/ "([^"]+)"$/gm)].map((m) => m[1]!);

/** The package a module id belongs to (`@temporalio/common`, `zod`), or null for our own code. */
function packageOf(id: string): string | null {
  const m = /^\.\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(id);
  return m ? m[1]! : null;
}

describe('workflow bundle', function () {
  this.timeout(120_000);
  let ids: string[];
  before(async () => {
    ids = moduleIds((await workflowBundle()).code);
  });

  it('is read: the bundle names its modules the way this test parses them', () => {
    assert.ok(ids.includes('./workflows/index.ts'), `workflows/index.ts not among ${ids.length} module ids`);
    assert.ok(ids.some((id) => packageOf(id) === '@temporalio/workflow'));
  });

  it('holds no third-party package but the SDK and what the SDK itself needs', () => {
    const allowed = new Set(['@temporalio/common', '@temporalio/workflow', 'nexus-rpc', 'long', 'ms']);
    const others = [...new Set(ids.map(packageOf).filter((p): p is string => p !== null && !allowed.has(p)))];
    assert.deepEqual(others, [], `workflow code pulls in ${others.join(', ')}: each workflow would run it again`);
  });

  it('holds none of the rule schemas, the API or the database layer', () => {
    const heavy = ids.filter((id) => /^\.\/src\/(?:domain\/rules\/(?:actions|fields|definition|schema|conditions)\.ts|api\/|db\/)/.test(id));
    assert.deepEqual(heavy, []);
  });
});
