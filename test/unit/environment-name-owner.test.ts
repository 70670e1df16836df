// Whose names an environment name is among (src/domain/environments.ts, nameOwner): a team's editor registers
// only its own team's (src/services/environments.ts), so no team takes first the name of another team's host.
import assert from 'node:assert/strict';
import { nameOwner, teamPrefixesOf } from '../../src/domain/environments.js';

describe('environment names: the team whose names each is among', function () {
  it('lists the name and each part before -, . or _, longest first', function () {
    assert.deepEqual(teamPrefixesOf('pay-eu.prod_1'), ['pay-eu.prod_1', 'pay-eu.prod', 'pay-eu', 'pay']);
    assert.deepEqual(teamPrefixesOf('prod'), ['prod']);
  });

  it("is the team of the longest prefix, else the default team's", function () {
    assert.equal(nameOwner('pay-eu-prod', ['pay', 'pay-eu']), 'pay-eu');
    assert.equal(nameOwner('pay-prod', ['pay', 'pay-eu']), 'pay');
    assert.equal(nameOwner('pay', ['pay']), 'pay');
    assert.equal(nameOwner('pay.db', ['pay']), 'pay');
    assert.equal(nameOwner('payments-prod', ['pay']), 'default', 'a whole team name, not a prefix of one');
    assert.equal(nameOwner('prod-eu', ['pay']), 'default');
  });
});
