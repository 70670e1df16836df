// The incident page says why: why each action ran or was skipped (`actionRuns[].reason`, the chaining
// decision) and why an event was rejected (`events[].rejectReason`). Real headless Chromium, the real
// API server and Postgres; the rows are written as the workflows write them.
import assert from 'node:assert/strict';
import { dashboardSuite } from '../helpers/dashboard-suite.js';
import { newIncidentId } from '../helpers/samples.js';

const TOKEN = 'ui-reasons-admin-token-0123456789abcdef';

describe('dashboard: why actions ran or were skipped, why events were rejected', function () {
  this.timeout(120_000);
  const incidentId = newIncidentId();

  const suite = dashboardSuite({
    token: TOKEN,
    async seed({ db }) {
      await db.db
        .insertInto('incidents')
        .values({ id: incidentId, number: 7, title: 'Disk full on web-7', description: null, status: 'triggered', urgency: 'high', priority: null, service_id: 'PSVC1', service_name: 'web', escalation_policy_id: null, escalation_policy_name: null, assignees: JSON.stringify([]), html_url: null, incident_key: null, environment: JSON.stringify({}), alerts: null, workflow_id: `incident-${incidentId}`, pd_created_at: new Date(), resolved_at: null, last_event_at: new Date() })
        .execute();
      await db.db
        .insertInto('incident_events')
        .values([
          { event_id: `E-ok-${incidentId}`, incident_id: incidentId, event_type: 'incident.triggered', resource_type: 'incident', occurred_at: new Date(), payload: JSON.stringify({}), disposition: 'accepted' },
          // A poison event, as triage records it.
          { event_id: `E-bad-${incidentId}`, incident_id: incidentId, event_type: 'incident.annotated', resource_type: 'incident', occurred_at: null, payload: JSON.stringify({}), disposition: 'rejected', reject_reason: 'occurred_at "yesterday" is not a timestamp' },
        ])
        .execute();
      const run = (index: number, id: string, type: string, status: string, reason: string, link: string | null = null) => ({
        id: `${incidentId}:r-1:${id}:E-ok`,
        idempotency_key: `${incidentId}:r-1:${id}:E-ok`,
        incident_id: incidentId,
        match_id: null,
        rule_id: 'r-1',
        rule_version: 1,
        job_run_id: null,
        action_index: index,
        action_id: id,
        action_type: type,
        status,
        target: null,
        rendered: null,
        exit_code: status === 'failed' ? 1 : null,
        output_excerpt: null,
        link,
        error: status === 'failed' ? 'exit code 1' : null,
        approval: null,
        started_at: status === 'skipped' ? null : new Date(),
        finished_at: new Date(),
        reason,
        claimed_by: null,
        workflow_id: null,
      });
      await db.db
        .insertInto('action_runs')
        .values([
          run(0, 'fix', 'script.agent', 'failed', 'when: success, and no earlier action ran', 'javascript:alert(document.cookie)'),
          run(1, 'escalate', 'pagerduty.escalate', 'succeeded', 'when: failure, and fix failed'),
          run(2, 'resolve', 'pagerduty.resolve', 'skipped', 'skipped: when: success, and fix failed'),
        ])
        .execute();
    },
  });

  it('shows each action run with its reason and the rejected event with why, and links no hostile URL', async function () {
    const { page, server } = suite;
    await page.goto(`${server.url}/ui#/incidents/${encodeURIComponent(incidentId)}`);
    await page.getByTestId('timeline').waitFor();

    const run = (id: string) => page.locator(`[data-testid="action-run"][data-id="${incidentId}:r-1:${id}:E-ok"]`);
    assert.equal(await run('fix').getByTestId('action-reason').innerText(), 'why: when: success, and no earlier action ran');
    assert.equal(await run('escalate').getByTestId('action-reason').innerText(), 'why: when: failure, and fix failed');
    assert.equal(await run('resolve').getByTestId('action-reason').innerText(), 'why: skipped: when: success, and fix failed');
    assert.equal(await run('resolve').getByTestId('action-status').innerText(), 'skipped');
    // The hostile link of an old row is not a link.
    assert.equal(await run('fix').getByTestId('action-link').count(), 0);
    assert.equal(await page.locator('a[href^="javascript:"]').count(), 0);

    const bad = page.locator(`[data-testid="event"][data-id="E-bad-${incidentId}"]`);
    assert.equal(await bad.getByTestId('event-disposition').innerText(), 'rejected');
    assert.equal(await bad.getByTestId('event-reject-reason').innerText(), 'rejected: occurred_at "yesterday" is not a timestamp');
    const ok = page.locator(`[data-testid="event"][data-id="E-ok-${incidentId}"]`);
    assert.equal(await ok.getByTestId('event-reject-reason').count(), 0);
    assert.equal(await ok.getByTestId('event-disposition').count(), 0, 'an accepted event carries no badge');
  });
});
