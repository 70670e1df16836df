// Loud failure: what a person must know about a rule run (an approval waiting or timed out, a circuit
// breaker opened, a run cancelled by a resolve) goes to the rule's own channels to people, the
// destinations its notify.slack and notify.email actions name, with our text, and to the PagerDuty incident
// as a note. notify.webhook destinations are left out: a webhook may start automation, and a notice must
// never do that. Best effort: a channel that fails is logged and does not stop the run.
import { ActivityFailure, log, proxyActivities } from '@temporalio/workflow';
import { actionInputOf, type PlannedAction, type RuleRunInput } from '../src/contracts/index.js';
import { slackEscape } from '../src/domain/template.js';
import { singleLine } from '../src/domain/text.js';
import type { Activities } from './activities.js';
import { externalApiOptions } from './options.js';

const api = proxyActivities<Activities>(externalApiOptions);

export type Notice =
  | { kind: 'approval_waiting'; actionRunId: string; actionId: string; timeoutMinutes: number; onTimeout: 'approve' | 'reject'; deadline: string }
  | { kind: 'approval_timed_out'; actionRunId: string; actionId: string; onTimeout: 'approve' | 'reject' }
  | { kind: 'breaker_opened'; failures: number; threshold: number; trial: boolean }
  | { kind: 'cancelled_by_resolve'; notRun: string[] };

const CHANNEL_TYPES = new Set(['notify.slack', 'notify.email']);

/**
 * What an approval timed out to approve does. The notice goes out before the rule run checks again whether
 * the action may start (startApprovedAction: the rule live at the planned version, automation not paused,
 * the rule's circuit breaker, the guards and flapping, the incident not resolved), so it says what may still
 * stop it, not that it ran.
 */
const AFTER_TIMEOUT_APPROVE = "runs now unless its rule was stopped or changed, automation is paused, its circuit breaker is open or a guard stops it; the incident's action runs say what happened.";

/**
 * The words of a notice (one line, then the link or the API call when there is one). `esc` is applied to
 * every value put into the text (a rule's name and action ids, the incident's id, link and target): the
 * target comes from an alert's details, which anyone holding an integration key writes. A Slack text
 * passes {@link slackEscape}, so a target such as `<!channel> <https://evil.example|web-01>` cannot ping a
 * channel or put a link of its own above the real approve and reject links; email and PagerDuty notes are
 * plain text and take the values as they are, but on one line ({@link singleLine}) everywhere, so a value
 * cannot start a line (a forged `Approve:` line) of its own.
 */
export function noticeText(input: RuleRunInput, n: Notice, escape: (value: string) => string = (v) => v): { title: string; text: string; link?: string | undefined } {
  const { plan } = input;
  // Every value on one line: a host holding line breaks wrote an `Approve: https://evil.example/…` line of
  // its own above the real links, in Slack and email alike (test/security/slack-text.test.ts).
  const esc = (value: string) => escape(singleLine(value));
  const incidentId = esc(input.incidentId);
  const ruleName = esc(plan.ruleName);
  const actionId = 'actionId' in n ? esc(n.actionId) : '';
  const rule = `rule "${ruleName}" (v${plan.ruleVersion})`;
  const on = plan.target ? ` on ${esc(plan.target)}` : '';
  switch (n.kind) {
    case 'approval_waiting': {
      const how = plan.incidentUrl !== undefined ? esc(plan.incidentUrl) : `POST /api/incidents/${incidentId}/approvals/${esc(encodeURIComponent(n.actionRunId))} with {"decision": "approve"} or "reject"`;
      return {
        title: `Approval needed: ${actionId} of ${ruleName} for ${incidentId}`,
        text: `Approval needed: ${rule} wants to run ${actionId}${on} for incident ${incidentId}. Decide within ${n.timeoutMinutes} min (then: ${n.onTimeout}): ${how}`,
        link: plan.incidentUrl,
      };
    }
    case 'approval_timed_out':
      return {
        title: `Approval timed out: ${actionId} of ${ruleName} for ${incidentId}`,
        text: `Approval timed out: nobody decided on ${actionId} of ${rule} for incident ${incidentId}; the rule says ${n.onTimeout}, so it ${n.onTimeout === 'approve' ? AFTER_TIMEOUT_APPROVE : 'does not run.'}`,
        link: plan.incidentUrl,
      };
    case 'breaker_opened':
      return {
        title: `Circuit breaker ${n.trial ? 're-opened' : 'opened'}: ${ruleName}`,
        text: n.trial
          ? `Circuit breaker re-opened: the half-open trial run of ${rule} for incident ${incidentId} failed; only notifications run until the next trial or POST /api/rules/${esc(plan.ruleId)}/reset-breaker.`
          : `Circuit breaker opened: ${rule} failed ${n.failures} runs in a row (threshold ${n.threshold}), the last for incident ${incidentId}; only notifications run until its half-open trial or POST /api/rules/${esc(plan.ruleId)}/reset-breaker.`,
        link: plan.incidentUrl,
      };
    case 'cancelled_by_resolve':
      return {
        title: `Cancelled by resolve: ${ruleName} for ${incidentId}`,
        text: `Cancelled: incident ${incidentId} resolved while ${rule} was running${on}; not run: ${n.notRun.map(esc).join(', ') || 'nothing'}.`,
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
  // Slack reads `<!channel>` and `<https://x|label>` in a text as a mention and a link: its copy of the text
  // has the values escaped (the approval links are added, escaped as well, by the activity).
  const slackText = noticeText(input, n, slackEscape).text;
  const key = 'actionRunId' in n ? n.actionRunId : `${incidentId}:${plan.ruleId}:${eventId}`;
  const sends: { id: string; action: PlannedAction }[] = noticeChannels(plan.actions).map((a) => ({
    id: a.id,
    action: {
      index: -1,
      id: `notice-${n.kind}-${a.id}`,
      type: a.type,
      when: 'always',
      params: a.type === 'notify.slack' ? { webhookUrlRef: a.params.webhookUrlRef, text: `[self-healing] ${slackText}` } : { to: a.params.to, subject: `[self-healing] ${title}`, body: text },
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
