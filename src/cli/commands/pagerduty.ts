// selfheal pagerduty subscribe|list|delete|ping: PagerDuty V3 webhook subscriptions and a signed test
// delivery to our own webhook endpoint.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { EVENT_TYPES } from '../../domain/rules/schema.js';
import { trimTrailingSlashes } from '../../domain/text.js';
import { createPagerDutyClient, PagerDutyApiError } from '../../pagerduty/rest-client.js';
import { signBody } from '../../pagerduty/signature.js';
import type { Io } from '../context.js';
import { CliError, EXIT, quote, usageError } from '../errors.js';
import { readBodyCapped } from '../../http-body.js';
import { describeProblem, redirectError, tokenRefusal } from '../http-client.js';
import { linePerWrite, printJson, table } from '../output.js';
import { action, argvSecretWarning, collect, type Runtime } from '../program.js';

interface PagerDutyFlags {
  pagerdutyApiUrl?: string;
  pagerdutyToken?: string;
  fromEmail?: string;
}

function withPagerDutyOptions(cmd: Command, writes: boolean): Command {
  cmd.option('--pagerduty-token <token>', 'PagerDuty REST API token (env PAGERDUTY_API_TOKEN)');
  if (writes) cmd.option('--from-email <email>', 'email of a user on the account, for writes (env PAGERDUTY_FROM_EMAIL)');
  return cmd.option('--pagerduty-api-url <url>', 'PagerDuty REST API (env PAGERDUTY_API_URL, default https://api.pagerduty.com)');
}

/** PagerDuty REST settings from flags, then PAGERDUTY_API_URL / PAGERDUTY_API_TOKEN / PAGERDUTY_FROM_EMAIL. */
function pagerDutySettings(flags: PagerDutyFlags, io: Io, needsFrom: boolean) {
  const pick = (flag: string | undefined, env: string) => (flag !== undefined ? flag : io.env[env]) || undefined;
  const baseUrl = pick(flags.pagerdutyApiUrl, 'PAGERDUTY_API_URL') ?? 'https://api.pagerduty.com';
  const token = pick(flags.pagerdutyToken, 'PAGERDUTY_API_TOKEN');
  if (flags.pagerdutyToken !== undefined) io.err(argvSecretWarning('--pagerduty-token', 'PAGERDUTY_API_TOKEN'));
  const fromEmail = pick(flags.fromEmail, 'PAGERDUTY_FROM_EMAIL');
  if (!token) throw usageError('a PagerDuty REST API token is required: set PAGERDUTY_API_TOKEN or pass --pagerduty-token');
  // The REST client's network errors quote no header, but a token it cannot send is refused alike, naming where it came from.
  const refused = tokenRefusal(token, flags.pagerdutyToken !== undefined ? '--pagerduty-token' : 'PAGERDUTY_API_TOKEN');
  if (refused) throw refused;
  if (needsFrom && !fromEmail) throw usageError('PagerDuty needs the email of a user on the account for writes: set PAGERDUTY_FROM_EMAIL or pass --from-email');
  try {
    new URL(baseUrl);
  } catch {
    throw usageError(`PagerDuty API URL "${baseUrl}" is not a URL`);
  }
  return { baseUrl, token, fromEmail: fromEmail ?? '' };
}

async function pagerDutyCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof PagerDutyApiError) {
      const code = err.status === undefined || err.status >= 500 || err.status === 429 || err.status === 401 || err.status === 403 ? EXIT.server : EXIT.usage;
      // PagerDuty's error text (its message, its errors[]) is quoted: printed on one line.
      throw new CliError(code, [`${what}: `, quote(err.message)]);
    }
    throw err;
  }
}

function describeFilter(filter: Record<string, unknown> | undefined): string {
  if (!filter) return '(none)';
  const type = String(filter.type ?? '').replace(/_reference$/, '');
  return filter.id ? `${type}:${String(filter.id)}` : type;
}

/** A fresh PagerDuty-like event id (26 upper-case letters and digits, like the V3 samples). */
function syntheticEventId(): string {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  return Array.from(randomBytes(26), (b) => alphabet[b % alphabet.length]).join('');
}

function syntheticIncidentEvent(incidentId: string, serviceId: string): unknown {
  return {
    event: {
      id: syntheticEventId(),
      event_type: 'incident.triggered',
      resource_type: 'incident',
      occurred_at: new Date().toISOString(),
      agent: null,
      client: { name: 'selfheal pagerduty ping' },
      data: {
        id: incidentId,
        type: 'incident',
        self: `https://api.pagerduty.com/incidents/${incidentId}`,
        html_url: `https://example.pagerduty.com/incidents/${incidentId}`,
        number: 0,
        status: 'triggered',
        title: 'Self-healing synthetic test incident (selfheal pagerduty ping --incident)',
        service: { id: serviceId, type: 'service_reference', summary: 'selfheal ping', self: `https://api.pagerduty.com/services/${serviceId}`, html_url: `https://example.pagerduty.com/services/${serviceId}` },
        assignees: [],
        escalation_policy: null,
        teams: [],
        priority: null,
        urgency: 'low',
        conference_bridge: null,
        resolve_reason: null,
      },
    },
  };
}

interface PingOutcome {
  eventType: string;
  status: number;
  signed: boolean;
  signatureAccepted: boolean;
  body: unknown;
}

/** What of the webhook's answer is read and shown (it is a short JSON acknowledgement or problem). */
const PING_ANSWER_BYTES = 64 * 1024;

async function sendSignedEvent(url: string, payload: unknown, secrets: string[]): Promise<PingOutcome> {
  const raw = JSON.stringify(payload);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json',
    'user-agent': 'PagerDuty-Webhook/V3.0 (selfheal pagerduty ping)',
    'x-webhook-id': randomUUID(),
  };
  // Like PagerDuty during a rotation: one v1 signature per active secret.
  if (secrets.length > 0) headers['x-pagerduty-signature'] = secrets.map((s) => signBody(raw, s)).join(',');
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { method: 'POST', headers, body: raw, redirect: 'manual', signal: AbortSignal.timeout(15_000) });
    const redirected = redirectError(url, res);
    if (redirected) {
      await res.body?.cancel();
      throw redirected;
    }
    const answer = await readBodyCapped(res, PING_ANSWER_BYTES);
    text = answer.text;
  } catch (err) {
    if (err instanceof CliError) throw err;
    const e = err as Error;
    throw new CliError(EXIT.server, [`cannot reach ${url}: `, quote(e.cause instanceof Error ? e.cause.message : e.message)]);
  }
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // keep the text
  }
  const eventType = (payload as { event: { event_type: string } }).event.event_type;
  return { eventType, status: res.status, signed: secrets.length > 0, signatureAccepted: res.status !== 401, body };
}

/** The webhook URL: --url, else $SELFHEAL_URL/webhooks/pagerduty. */
function webhookUrlOf(urlFlag: string | undefined, io: Io): string {
  const url = urlFlag ?? `${trimTrailingSlashes(io.env.SELFHEAL_URL ?? 'http://localhost:8080')}/webhooks/pagerduty`;
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw usageError(`webhook URL "${url}" is not an http(s) URL`);
  }
  return url;
}

interface SubscribeOptions extends PagerDutyFlags {
  service?: string[];
  account?: boolean;
  description?: string;
  new?: boolean;
}

export function registerPagerDuty(program: Command, given: Runtime): void {
  const rt = linePerWrite(given);
  const group = program.command('pagerduty').description('PagerDuty webhook subscriptions and a signed test delivery');

  withPagerDutyOptions(
    group
      .command('subscribe')
      .description('Create PagerDuty V3 webhook subscription(s) for incident events; prints the signing secret once (--url is the public webhook URL)')
      .option('--service <id>', 'one subscription per PagerDuty service (repeatable)', collect)
      .option('--account', 'one subscription for the whole account')
      .option('--description <text>', 'subscription description')
      .option('--new', 'create another subscription even if one exists (a new secret, for rotation)'),
    true,
  ).action(
    action<SubscribeOptions>(rt, async ({ io, opts, global }) => {
      const services = opts.service ?? [];
      const account = opts.account === true;
      if (global.urlFlag === undefined) throw usageError('--url <public webhook url> is required (where PagerDuty will POST, ending in /webhooks/pagerduty)');
      const url = webhookUrlOf(global.urlFlag, io);
      if (services.length === 0 && !account) throw usageError('choose --service <id> (one subscription per service) or --account');
      if (services.length > 0 && account) throw usageError('--service and --account exclude each other');
      for (const s of services) if (!/^[A-Za-z0-9]{1,32}$/.test(s)) throw usageError(`--service "${s}" is not a PagerDuty service id (like PA2P440)`);
      if (new URL(url).protocol !== 'https:') io.err(`warning: ${url} is not https; PagerDuty delivers webhooks to public https URLs only`);
      const client = createPagerDutyClient(pagerDutySettings(opts, io, true));
      const description = opts.description ?? 'Self-healing: incident events (selfheal pagerduty subscribe)';

      const targets: ({ type: 'service'; id: string } | { type: 'account' })[] = account ? [{ type: 'account' }] : [...new Set(services)].map((id) => ({ type: 'service' as const, id }));
      const results: { filter: string; id: string; created: boolean; secret?: string }[] = [];
      for (const target of targets) {
        const existing = await pagerDutyCall('listing webhook subscriptions', () => client.listWebhookSubscriptions(target));
        // Re-running is harmless; --new creates another subscription anyway (a new secret, for rotation).
        const same = opts.new === true ? undefined : existing.find((s) => s.delivery_method?.url === url);
        const label = target.type === 'account' ? 'account' : `service:${target.id}`;
        if (same) {
          results.push({ filter: label, id: same.id, created: false });
          continue;
        }
        const created = await pagerDutyCall('creating the webhook subscription', () =>
          client.createWebhookSubscription({
            url,
            events: [...EVENT_TYPES],
            filter: target.type === 'account' ? { type: 'account_reference' } : { type: 'service_reference', id: target.id },
            description,
          }),
        );
        results.push({ filter: label, id: created.id, created: true, ...(created.delivery_method?.secret ? { secret: created.delivery_method.secret } : {}) });
      }

      if (global.json) {
        printJson(io, { url, events: EVENT_TYPES, subscriptions: results });
        return EXIT.ok;
      }
      for (const r of results) {
        io.out(r.created ? `created webhook subscription ${r.id} (${r.filter}) → ${url}` : `already subscribed: ${r.id} (${r.filter}) → ${url}; its secret was shown when it was created`);
      }
      const secrets = results.filter((r) => r.secret).map((r) => r.secret!);
      if (secrets.length > 0) {
        io.out('');
        io.out(`Signing secret${secrets.length > 1 ? 's' : ''} (shown ONCE; PagerDuty will not show ${secrets.length > 1 ? 'them' : 'it'} again):`);
        for (const r of results) if (r.secret) io.out(`  ${r.id}  ${r.secret}`);
        io.out('');
        io.out('Add to PAGERDUTY_WEBHOOK_SECRETS of every API process (comma-separated), keeping the secrets already there:');
        io.out(`  PAGERDUTY_WEBHOOK_SECRETS="\${PAGERDUTY_WEBHOOK_SECRETS:+$PAGERDUTY_WEBHOOK_SECRETS,}${secrets.join(',')}"`);
        io.out('then restart the API. Rotating: add the new secret, keep the old one until PagerDuty signs with the new one only, then remove the old.');
        io.out(`Check it: selfheal pagerduty ping --url ${url} --secret <secret>`);
      }
      return EXIT.ok;
    }),
  );

  withPagerDutyOptions(
    group
      .command('list')
      .description('List PagerDuty V3 webhook subscriptions')
      .option('--service <id>', 'only the subscriptions of this service')
      .option('--account', 'only account-wide subscriptions'),
    false,
  ).action(
    action<PagerDutyFlags & { service?: string; account?: boolean }>(rt, async ({ io, opts, global }) => {
      const client = createPagerDutyClient(pagerDutySettings(opts, io, false));
      const filter = opts.service !== undefined ? { type: 'service' as const, id: opts.service } : opts.account === true ? { type: 'account' as const } : undefined;
      const subs = await pagerDutyCall('listing webhook subscriptions', () => client.listWebhookSubscriptions(filter));
      if (global.json) {
        printJson(io, subs);
        return EXIT.ok;
      }
      table(
        io,
        ['ID', 'ACTIVE', 'FILTER', 'EVENTS', 'URL', 'DESCRIPTION'],
        subs.map((s) => [s.id, s.active ?? '', describeFilter(s.filter), s.events?.length ?? 0, s.delivery_method?.url ?? '', typeof s.description === 'string' ? s.description : '']),
      );
      return EXIT.ok;
    }),
  );

  withPagerDutyOptions(group.command('delete').description('Delete a PagerDuty webhook subscription (exit 1 when it does not exist)').argument('<subscription-id>', 'webhook subscription id'), true).action(
    action<PagerDutyFlags>(rt, async ({ io, opts, args: [id], global }) => {
      const client = createPagerDutyClient(pagerDutySettings(opts, io, true));
      try {
        await client.deleteWebhookSubscription(id!);
      } catch (err) {
        if (err instanceof PagerDutyApiError && err.status === 404) {
          io.err(`no webhook subscription ${id}`);
          return EXIT.negative;
        }
        return pagerDutyCall('deleting the webhook subscription', () => Promise.reject(err));
      }
      if (global.json) printJson(io, { id, deleted: true });
      else io.out(`deleted webhook subscription ${id}; remove its secret from PAGERDUTY_WEBHOOK_SECRETS when no other subscription uses it`);
      return EXIT.ok;
    }),
  );

  group
    .command('ping')
    .description('Send a signed pagey.ping (and with --incident a synthetic incident) to the webhook (--url, default $SELFHEAL_URL/webhooks/pagerduty); exit 1 if rejected')
    .option('--secret <secrets>', 'signing secret(s), comma-separated (default PAGERDUTY_WEBHOOK_SECRETS)')
    .option('--incident', 'also send a synthetic incident.triggered')
    .option('--incident-id <id>', 'with --incident: its incident id')
    .option('--service <id>', 'with --incident: its service id')
    .action(
      action<{ secret?: string; incident?: boolean; incidentId?: string; service?: string }>(rt, async ({ io, opts, global }) => {
        const url = webhookUrlOf(global.urlFlag, io);
        const secrets = (opts.secret ?? io.env.PAGERDUTY_WEBHOOK_SECRETS ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        const payloads: unknown[] = [
          {
            event: {
              id: syntheticEventId(),
              event_type: 'pagey.ping',
              resource_type: 'pagey',
              occurred_at: new Date().toISOString(),
              agent: null,
              client: null,
              data: { message: 'Hello from your friend Pagey! (selfheal pagerduty ping)', type: 'ping' },
            },
          },
        ];
        if (opts.incident === true) {
          const incidentId = opts.incidentId ?? `PSH${randomBytes(4).toString('hex').toUpperCase()}`;
          if (!/^[A-Za-z0-9]{1,32}$/.test(incidentId)) throw usageError(`--incident-id "${incidentId}" is not a PagerDuty-like id`);
          payloads.push(syntheticIncidentEvent(incidentId, opts.service ?? 'PSELFHEALPING'));
        }
        const outcomes: PingOutcome[] = [];
        for (const p of payloads) outcomes.push(await sendSignedEvent(url, p, secrets));
        if (global.json) {
          printJson(io, { url, outcomes });
        } else {
          if (!secrets.length) io.err('warning: no secret given (--secret or PAGERDUTY_WEBHOOK_SECRETS): sending unsigned');
          for (const o of outcomes) {
            const verdict =
              o.status === 401
                ? "signature REJECTED (401): the secret matches none of the server's PAGERDUTY_WEBHOOK_SECRETS"
                : o.status >= 200 && o.status < 300
                  ? o.signed
                    ? 'signature accepted'
                    : 'accepted UNSIGNED: the server does not check signatures (PAGERDUTY_WEBHOOK_SECRETS unset, development only)'
                  : `not accepted: ${describeProblem(o.status, o.body)}`;
            const detail = o.body && typeof o.body === 'object' ? ` ${JSON.stringify(o.body)}` : '';
            io.out(`${o.eventType}: POST ${url} → ${o.status}; ${verdict}${o.status < 300 ? detail : ''}`);
          }
        }
        if (outcomes.some((o) => o.status >= 500)) return EXIT.server;
        return outcomes.every((o) => o.status >= 200 && o.status < 300) ? EXIT.ok : EXIT.negative;
      }),
    );
}
