// selfheal rules stats [name-or-id]: whether automation earns its keep (GET /api/stats, GET /api/rules/{id}/stats).
import type { Command } from 'commander';
import { parseDuration } from '../../domain/backtest/window.js';
import { EXIT, usageError } from '../errors.js';
import { linePerWrite, printJson } from '../output.js';
import { action, type Runtime } from '../program.js';
import { humanSeconds, percent, type StatsAnswer } from '../../contracts/stats.js';

export { humanSeconds, percent };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `--since`: a duration back from now (30d, 12h) or an ISO time. */
function sinceOf(text: string, now: Date): string {
  const seconds = parseDuration(text);
  if (seconds !== undefined) return new Date(now.getTime() - seconds * 1000).toISOString();
  const at = new Date(text);
  if (Number.isNaN(at.getTime())) throw usageError(`--since must be a duration such as 30d or 12h, or an ISO time (got "${text}")`);
  return at.toISOString();
}

export function statsLines(s: StatsAnswer): string[] {
  const title = s.rule ? `rule ${s.rule.name} (${s.rule.id}); live since ${s.rule.liveSince ?? 'never'}` : 'all rules';
  const lines = [
    `${title}, ${s.range.since} → ${s.range.until}${s.truncated ? ' (truncated: more history than one answer reads)' : ''}`,
    `  runs ${s.runs} (finished ${s.finishedRuns}, succeeded ${s.succeededRuns}: ${percent(s.successRate)}); verified ${s.verification.verified} of ${s.verification.verified + s.verification.unverified} checked (${percent(s.verifiedRate)}), pending ${s.verification.pending}, not applicable ${s.verification.notApplicable}; dry runs ${s.dryRuns}`,
    `  incidents: auto-remediated ${s.incidents['auto-remediated']}, assisted ${s.incidents.assisted}, human ${s.incidents.human}, open ${s.incidents.open} (auto-remediated share ${percent(s.autoRemediatedShare)})`,
    `  median time to resolve: with automation ${humanSeconds(s.timeToResolve.withAutomation.medianSeconds)} (${s.timeToResolve.withAutomation.count} incidents), without ${humanSeconds(s.timeToResolve.withoutAutomation.medianSeconds)} (${s.timeToResolve.withoutAutomation.count})`,
    `  suppressed: ${s.suppressed.map((p) => `${p.policy} ${p.count}`).join(', ') || 'none'}`,
    `  flapping targets: ${s.flappingTargets.map((t) => `${t.target} (${t.count})`).join(', ') || 'none'}`,
  ];
  if (s.rules) {
    lines.push(['RULE', 'RUNS', 'SUCCESS', 'VERIFIED', 'AUTO', 'SUPPRESSED'].join('\t'));
    for (const r of s.rules) lines.push([r.name, r.runs, percent(r.successRate), percent(r.verifiedRate), percent(r.autoRemediatedShare), r.suppressed].join('\t'));
  }
  return lines;
}

export function registerRuleStats(group: Command, given: Runtime): void {
  const rt = linePerWrite(given);
  group
    .command('stats')
    .description('Effectiveness: runs, success and verified rates, who fixed the incidents, time to resolve with and without automation, suppressions')
    .argument('[name-or-id]', 'one rule (default: all rules, with a line per rule)')
    .option('--since <when>', 'start: a duration back from now (30d, 12h) or an ISO time', '30d')
    .option('--until <time>', 'end: an ISO time (default: now)')
    .action(
      action(rt, async ({ api, io, args: [key], opts, global }) => {
        const o = opts as { since: string; until?: string };
        const now = new Date();
        const query = new URLSearchParams({ since: sinceOf(o.since, now) });
        if (o.until) {
          const until = new Date(o.until);
          if (Number.isNaN(until.getTime())) throw usageError(`--until must be an ISO time (got "${o.until}")`);
          query.set('until', until.toISOString());
        }
        let path = `/api/stats?${query}`;
        if (key !== undefined) {
          const id = UUID.test(key) ? key : (await api.rules.list()).find((r) => r.name === key)?.id;
          if (!id) {
            io.err(`no rule named or with id "${key}"`);
            return EXIT.negative;
          }
          path = `/api/rules/${encodeURIComponent(id)}/stats?${query}`;
        }
        const answer = (await api.request<StatsAnswer>('GET', path)).body;
        if (global.json) printJson(io, answer);
        else for (const line of statsLines(answer)) io.out(line);
        return EXIT.ok;
      }),
    );
}
