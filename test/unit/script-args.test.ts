import assert from 'node:assert/strict';
import { optionFromData } from '../../src/domain/script-args.js';

describe('optionFromData (script arguments made from data are never options)', () => {
  it('refuses an element whose dash came from a value, and names it', () => {
    assert.match(optionFromData(['{{ environment.host }}'], ['--apply']) ?? '', /^args\.0: the value rendered into "\{\{ environment\.host \}\}" starts with "-"/);
    assert.match(optionFromData(['--days', '{{ x }}'], ['--days', '-1']) ?? '', /^args\.1:/);
    assert.match(optionFromData(['{{ a }}{{ b }}'], ['-rf']) ?? '', /^args\.0:/);
  });

  it('passes literal options, values inside an element, values after "--", and non-script shapes', () => {
    assert.equal(optionFromData(['--apply', '{{ host }}'], ['--apply', 'web-1']), undefined);
    assert.equal(optionFromData(['--host={{ host }}'], ['--host=--apply']), undefined);
    assert.equal(optionFromData(['-{{ flag }}'], ['-x']), undefined);
    assert.equal(optionFromData(['--', '{{ host }}', '{{ title }}'], ['--', '--apply', '-rf']), undefined);
    assert.equal(optionFromData(undefined, undefined), undefined);
    assert.equal(optionFromData(['{{ host }}'], [' --apply']), undefined);
  });
});
