// selfheal incidents list|show|mark-resolved
import type { Command } from 'commander';
import { EXIT } from '../errors.js';
import { linePerWrite, printJson, table } from '../output.js';
import { action, positiveInt, type Runtime } from '../program.js';

export function registerIncidents(program: Command, given: Runtime): void {
  const rt = linePerWrite(given);
  const group = program.command('incidents').description('Incidents: what happened, what matched, what ran');

  group
    .command('list')
    .description('List incidents (newest first)')
    .option('--status <status>', 'triggered | acknowledged | resolved')
    .option('--service <id>', 'PagerDuty service id')
    .option('--environment <name>', 'extracted environment')
    .option('--limit <n>', 'at most n incidents (1-200, default 50)')
    .action(
      action<{ status?: string; service?: string; environment?: string; limit?: string }>(rt, async ({ api, io, opts, global }) => {
        const q = new URLSearchParams({ limit: String(positiveInt(opts.limit, 'limit', 50, 200)) });
        for (const k of ['status', 'service', 'environment'] as const) if (opts[k] !== undefined) q.set(k, opts[k]);
        const items = await api.incidents.list(q);
        if (global.json) {
          printJson(io, items);
          return EXIT.ok;
        }
        table(
          io,
          ['ID', 'STATUS', 'URGENCY', 'SERVICE', 'ENVIRONMENT', 'CREATED', 'TITLE'],
          items.map((i) => [i.id, i.status, i.urgency, i.service.name ?? i.service.id, i.environment.environment ?? i.environment.host, i.createdAt, i.title]),
        );
        return EXIT.ok;
      }),
    );

  group
    .command('show')
    .description('Show an incident: events, environment, rule matches, action runs (exit 1 when not known)')
    .argument('<id>', 'PagerDuty incident id')
    .action(
      action(rt, async ({ api, io, args: [id], global }) => {
        const i = await api.incidents.get(id!);
        if (!i) {
          io.err(`incident ${id} is not known`);
          return EXIT.negative;
        }
        if (global.json) {
          printJson(io, i);
          return EXIT.ok;
        }
        io.out(`${i.id}  #${i.number ?? '?'}  ${i.title}`);
        io.out(`status ${i.status}, urgency ${i.urgency ?? '-'}, service ${i.service.name ?? i.service.id ?? '-'}, created ${i.createdAt}`);
        io.out(`Temporal: ${i.temporalUrl}`);
        const env = Object.entries(i.environment);
        io.out(env.length ? `environment: ${env.map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ')}` : 'environment: (nothing extracted)');
        const o = i.omitted;
        if (o && o.events + o.matches + o.actionRuns > 0) io.out(`(older history not shown: ${o.events} events, ${o.matches} rule matches, ${o.actionRuns} action runs; each list holds the newest 500)`);
        io.out('events:');
        for (const e of i.events) io.out(`  ${e.occurredAt ?? e.receivedAt}  ${e.type}  ${e.eventId}`);
        io.out('rule matches:');
        if (i.matches.length === 0) io.out('  (none)');
        for (const m of i.matches) {
          const text = (m.explanation as { text?: string } | null)?.text;
          io.out(`  ${m.ruleName} v${m.ruleVersion}: ${m.decision}${m.skipReason ? ` (${m.skipReason})` : ''}${m.target ? ` target ${m.target}` : ''}${text ? ` — ${text}` : ''}`);
          if (m.verification) io.out(`    verification: ${m.verification}${m.verificationDetail ? ` (${m.verificationDetail})` : ''}`);
        }
        io.out('actions:');
        if (i.actionRuns.length === 0) io.out('  (none)');
        for (const r of i.actionRuns) {
          io.out(
            `  ${r.actionId} (${r.type}): ${r.status}${r.exitCode !== null ? ` exit ${r.exitCode}` : ''}${r.attempts > 1 ? `, ${r.attempts} attempts` : ''}${r.verification ? `, verification ${r.verification}` : ''}${r.link ? `  ${r.link}` : ''}`,
          );
          if (r.error) io.out(`    error: ${r.error.trimEnd()}`);
          if (r.outputExcerpt) for (const line of r.outputExcerpt.trimEnd().split(/\r?\n/).slice(-5)) io.out(`    | ${line}`);
          if (r.status === 'awaiting_approval') io.out(`    waiting for approval: POST /api/incidents/${i.id}/approvals/${r.id} {"decision":"approve"|"reject"}`);
        }
        return EXIT.ok;
      }),
    );

  group
    .command('mark-resolved')
    .description(
      'Mark resolved here an open incident whose resolve never arrived (admin; PagerDuty is not told): its rule runs are cancelled, their approvals refused, and its incident.resolved rules run',
    )
    .argument('<id>', 'PagerDuty incident id')
    .requiredOption('--reason <text>', 'why (1-500 characters; in the audit log)')
    .option('--resolved-at <time>', 'when PagerDuty resolved it, ISO 8601 with a zone (default now): the time to resolve in the stats')
    .action(
      action<{ reason: string; resolvedAt?: string }>(rt, async ({ api, io, args: [id], opts, global }) => {
        const r = await api.incidents.markResolved(id!, { reason: opts.reason, ...(opts.resolvedAt !== undefined ? { resolvedAt: opts.resolvedAt } : {}) });
        if (global.json) {
          printJson(io, r);
          return EXIT.ok;
        }
        io.out(`incident ${r.incidentId}: the resolve was handed to its workflow as ${r.actor} (event ${r.eventId})`);
        return EXIT.ok;
      }),
    );
}
