// The Doctor agent's identity lists the teams it serves (SELFHEAL_AGENT_TEAMS) for GET /api/environments/{name}
// to show. Temporal refuses a poll whose identity is over 1,000 characters, and the setting allows 100 names
// of 63: the whole list made an agent that never received a task (a reviewer's reading).
import assert from 'node:assert/strict';
import { agentIdentity } from '../../src/agent.js';
import { agentsServe, identityForReader, identityServes } from '../../src/domain/agent-identity.js';

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

  it('shows a non-admin reader only the teams it may read, counting the others (before: every team the agent serves)', function () {
    const reads = (...teams: string[]) => (t: string) => teams.includes(t);
    assert.equal(identityForReader('doctor-agent@db-prod teams=ops,db,payments', reads('db')), 'doctor-agent@db-prod teams=db,…(+2)');
    assert.equal(identityForReader('doctor-agent@db-prod teams=ops,db', reads('ops', 'db')), 'doctor-agent@db-prod teams=ops,db');
    assert.equal(identityForReader('doctor-agent@db-prod teams=ops', reads('db')), 'doctor-agent@db-prod teams=…(+1)');
    // A list the agent cut already: the count it gave is added to.
    assert.equal(identityForReader('doctor-agent@db-prod teams=ops,db,…(+3)', reads('db')), 'doctor-agent@db-prod teams=db,…(+4)');
    // * and identities of another shape name no team.
    assert.equal(identityForReader('doctor-agent@db-prod teams=*', reads()), 'doctor-agent@db-prod teams=*');
    assert.equal(identityForReader('4242@host-1', reads()), '4242@host-1');
    // Read back, the redacted identity still says whether it serves a team the reader reads, and nothing of the rest.
    const redacted = identityForReader('doctor-agent@e teams=ops,db', reads('db'));
    assert.equal(identityServes(redacted, 'db'), true);
    assert.equal(identityServes(redacted, 'ops'), undefined);
  });
});
