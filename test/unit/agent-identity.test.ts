// The Doctor agent's identity lists the teams it serves (SELFHEAL_AGENT_TEAMS) for GET /api/environments/{name}
// to show. Temporal refuses a poll whose identity is over 1,000 characters, and the setting allows 100 names
// of 63: the whole list made an agent that never received a task (a reviewer's reading).
import assert from 'node:assert/strict';
import { agentIdentity } from '../../src/agent.js';
import { agentsServe, identityServes } from '../../src/domain/agent-identity.js';

describe('Doctor agent identity', function () {
  it('lists its teams, or * when any, and cuts a long list under Temporal\'s 1,000-character limit saying how many more', function () {
    assert.equal(agentIdentity('db-prod', undefined), 'doctor-agent@db-prod teams=*');
    assert.equal(agentIdentity('db-prod', ['ops', 'db']), 'doctor-agent@db-prod teams=ops,db');
    const teams = Array.from({ length: 100 }, (_, i) => `team-${String(i).padStart(2, '0')}-${'x'.repeat(54)}`);
    const env = 'e'.repeat(63);
    const id = agentIdentity(env, teams);
    assert.ok(id.length < 1000, `${id.length} characters`);
    const m = /^doctor-agent@e+ teams=(.*),…\(\+(\d+)\)$/.exec(id);
    assert.ok(m, id);
    const shown = m[1]!.split(',');
    assert.deepEqual(shown, teams.slice(0, shown.length));
    assert.equal(shown.length + Number(m[2]), 100);
  });

  it('is read back for GET /api/environments/{name}: whether the agents polling serve a team (servesTeam)', function () {
    assert.equal(identityServes(agentIdentity('db-prod', ['ops', 'db']), 'db'), true);
    assert.equal(identityServes(agentIdentity('db-prod', ['ops', 'db']), 'payments'), false);
    assert.equal(identityServes(agentIdentity('db-prod', ['ops']), 'op'), false, 'a whole name, not a prefix');
    assert.equal(identityServes(agentIdentity('db-prod', undefined), 'payments'), true);
    // A cut list says nothing of the teams it does not show; an identity of another shape says nothing.
    const teams = Array.from({ length: 100 }, (_, i) => `team-${String(i).padStart(2, '0')}-${'x'.repeat(54)}`);
    const cut = agentIdentity('db-prod', teams);
    assert.equal(identityServes(cut, teams[0]!), true);
    assert.equal(identityServes(cut, teams[99]!), undefined);
    assert.equal(identityServes('doctor-agent@db-prod', 'ops'), undefined);
    assert.equal(identityServes('doctor-agent@db-prod-test', 'ops'), undefined);
    assert.equal(agentsServe([], 'ops'), null);
    assert.equal(agentsServe(['doctor-agent@e teams=ops'], 'payments'), false);
    assert.equal(agentsServe(['doctor-agent@e teams=ops', 'doctor-agent@e teams=payments'], 'payments'), true);
    assert.equal(agentsServe(['doctor-agent@e teams=ops', 'doctor-agent@e'], 'payments'), null);
  });
});
