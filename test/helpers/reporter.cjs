// Spec output for people, then the slowest test files (to watch the suite's time against CI's limit),
// then one line CI can count: "N passed, N failed".
'use strict';
const path = require('node:path');
const Mocha = require('mocha');

const { EVENT_RUN_END, EVENT_SUITE_BEGIN, EVENT_SUITE_END } = Mocha.Runner.constants;
const SLOWEST_SHOWN = 12;

class SpecWithCounts extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    /** Wall time per test file, hooks included: a file's top-level suites from their start to their end. */
    const fileMs = new Map();
    const started = new Map();
    runner.on(EVENT_SUITE_BEGIN, (suite) => {
      if (suite.file && suite.parent?.root) started.set(suite, Date.now());
    });
    runner.on(EVENT_SUITE_END, (suite) => {
      const t0 = started.get(suite);
      if (t0 === undefined) return;
      started.delete(suite);
      const file = path.relative(process.cwd(), suite.file);
      fileMs.set(file, (fileMs.get(file) ?? 0) + Date.now() - t0);
    });
    runner.once(EVENT_RUN_END, () => {
      const { passes = 0, failures = 0, pending = 0 } = runner.stats ?? {};
      const slowest = [...fileMs].sort((a, b) => b[1] - a[1]).slice(0, SLOWEST_SHOWN);
      if (fileMs.size > 1) {
        const total = [...fileMs.values()].reduce((a, b) => a + b, 0);
        process.stdout.write(`\nslowest test files (of ${fileMs.size}, ${Math.round(total / 1000)} s in all):\n`);
        for (const [file, ms] of slowest) process.stdout.write(`  ${String(Math.round(ms / 1000)).padStart(5)} s  ${file}\n`);
      }
      process.stdout.write(`\n${passes} passed, ${failures} failed${pending ? `, ${pending} skipped` : ''}\n`);
    });
  }
}

module.exports = SpecWithCounts;
