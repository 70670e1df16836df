// Loud failure: what a person must know about a rule run (an approval waiting or timed out, a circuit
// breaker opened, a run cancelled by a resolve) goes to the rule's own channels to people, the
// destinations its notify.slack and notify.email actions name, with our text, and to the PagerDuty incident
// as a note. notify.webhook destinations are left out: a webhook may start automation, and a notice must
// never do that. Best effort: a channel that fails is logged and does not stop the run.
import { ActivityFailure, log, proxyActivities } from '@temporalio/workflow';
import { actionInputOf, type PlannedAction, type RuleRunInput } from '../src/contracts/index.js';
import type { Activities } from './activities.js';
import { externalApiOptions } from './options.js';

const api = proxyActivities<Activities>(externalApiOptions);

export type Notice =
  | { kind: 'approval_waiting'; actionRunId: string; actionId: string; timeoutMinutes: number; onTimeout: 'approve' | 'reject'; deadline: string }
  | { kind: 'approval_timed_out'; actionRunId: string; actionId: string; onTimeout: 'approve' | 'reject' }
  | { kind: 'breaker_opened'; failures: number; threshold: number; trial: boolean }
  | { kind: 'cancelled_by_resolve'; notRun: string[] };

const CHANNEL_TYPES = new Set(['notify.slack', 'notify.email']);

/** The words of a notice (one line, then the link or the API call when there is one). */
export function noticeText(input: RuleRunInput, n: Notice): { title: string; text: string; link?: string | undefined } {
  const { plan, incidentId } = input;
  const rule = `rule "${plan.ruleName}" (v${plan.ruleVersion})`;
  const on = plan.target ? ` on ${plan.target}` : '';
  switch (n.kind) {
    case 'approval_waiting': {
      const how = plan.incidentUrl ?? `POST /api/incidents/${incidentId}/approvals/${encodeURIComponent(n.actionRunId)} with {"decision": "approve"} or "reject"`;
      return {
        title: `Approval needed: ${n.actionId} of ${plan.ruleName} for ${incidentId}`,
        text: `Approval needed: ${rule} wants to run ${n.actionId}${on} for incident ${incidentId}. Decide within ${n.timeoutMinutes} min (then: ${n.onTimeout}): ${how}`,
        link: plan.incidentUrl,
      };
    }
    case 'approval_timed_out':
      return {
        title: `Approval timed out: ${n.actionId} of ${plan.ruleName} for ${incidentId}`,
        text: `Approval timed out: nobody decided on ${n.actionId} of ${rule} for incident ${incidentId}; the rule says ${n.onTimeout}, so it ${n.onTimeout === 'approve' ? 'runs now' : 'does not run'}.`,
        link: plan.incidentUrl,
      };
    case 'breaker_opened':
      return {
        title: `Circuit breaker ${n.trial ? 're-opened' : 'opened'}: ${plan.ruleName}`,
        text: n.trial
          ? `Circuit breaker re-opened: the half-open trial run of ${rule} for incident ${incidentId} failed; only notifications run until the next trial or POST /api/rules/${plan.ruleId}/reset-breaker.`
          : `Circuit breaker opened: ${rule} failed ${n.failures} runs in a row (threshold ${n.threshold}), the last for incident ${incidentId}; only notifications run until its half-open trial or POST /api/rules/${plan.ruleId}/reset-breaker.`,
        link: plan.incidentUrl,
      };
    case 'cancelled_by_resolve':
      return {
        title: `Cancelled by resolve: ${plan.ruleName} for ${incidentId}`,
        text: `Cancelled: incident ${incidentId} resolved while ${rule} was running${on}; not run: ${n.notRun.join(', ') || 'nothing'}.`,
        link: plan.incidentUrl,
      };
  }
}

/** The rule's channels, each once (two actions naming the same destination get one notice). */
export function noticeChannels(actions: readonly PlannedAction[]): PlannedAction[] {
  const seen = new Set<string>();
  return actions.filter((a) => {
    if (!CHANNEL_TYPES.has(a.type)) return false;
    const key = a.type === 'notify.slack' ? `slack:${String(a.params.webhookUrlRef)}` : `email:${JSON.stringify(a.params.to)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Send a notice to every channel of the rule and as a PagerDuty note. Never throws. */
export async function announce(input: RuleRunInput, n: Notice): Promise<void> {
  const { plan, incidentId, eventId } = input;
  if (plan.decision === 'dry_run') return;
  const { title, text } = noticeText(input, n);
  const key = 'actionRunId' in n ? n.actionRunId : `${incidentId}:${plan.ruleId}:${eventId}`;
  const sends: { id: string; action: PlannedAction }[] = noticeChannels(plan.actions).map((a) => ({
    id: a.id,
    action: {
      index: -1,
      id: `notice-${n.kind}-${a.id}`,
      type: a.type,
      when: 'always',
      params: a.type === 'notify.slack' ? { webhookUrlRef: a.params.webhookUrlRef, text: `[self-healing] ${text}` } : { to: a.params.to, subject: `[self-healing] ${title}`, body: text },
    },
  }));
  if (plan.writeBack) sends.push({ id: 'pagerduty', action: { index: -1, id: `notice-${n.kind}-pagerduty`, type: 'pagerduty.note', when: 'always', params: { content: `[self-healing] ${text}` } } });
  await Promise.all(
    sends.map(async ({ id, action }) => {
      try {
        await api.executeAction({
          ...actionInputOf(input, `${key}:notice:${n.kind}:${id}`, action, []),
          // Approve/reject links go to people's channels only, never into the PagerDuty note.
          ...(n.kind === 'approval_waiting' && id !== 'pagerduty' ? { approvalLinks: { actionRunId: n.actionRunId, deadline: n.deadline } } : {}),
        });
      } catch (err) {
        const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
        log.warn('notice not delivered', { incidentId, ruleId: plan.ruleId, notice: n.kind, channel: id, error: cause instanceof Error ? cause.message : String(cause) });
      }
    }),
  );
}
