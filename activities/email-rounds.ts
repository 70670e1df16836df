// One email, sent in rounds: the first to every recipient; when the relay takes the message for some and
// refuses the others only for now (4xx at RCPT TO: a greylisting relay), that round is done and records
// whom it still owes, and the next round, a side effect of its own (`<key>:owed:<n>`), sends the same
// message (the same Message-ID and To: header) to them alone, retried like any send. Each round reaches
// at least one more recipient, so the rounds end, and nobody gets the message twice. A permanent refusal
// (5xx) among them leaves it partly sent: the side effect fails as SideEffectPartlyDone, naming them.
import { EmailPartlySentError } from '../src/executors/notify.js';
import type { EffectResult, SideEffects } from './side-effects.js';

/** The integration that sends (src/integrations.ts): `deliverTo` is who is sent it, when not everyone `to` (the header) names. */
export interface EmailSender {
  email(input: { to: string[]; deliverTo?: string[] | undefined; subject: string; text: string; idempotencyKey?: string | undefined; signal?: AbortSignal | undefined }): Promise<{ messageId?: string; response?: string }>;
}

export interface EmailRounds {
  effects: SideEffects;
  integrations: EmailSender;
  /** The first round's side effect key. */
  key: string;
  /** What the Message-ID is derived from, when not `key`. */
  messageKey?: string | undefined;
  kind: string;
  incidentId?: string | undefined;
  to: string[];
  subject: string;
  text: string;
  /** At most this long for each round's attempt (SideEffectSpec.maxBudgetMs). */
  maxBudgetMs?: number | undefined;
}

/** The last round's result, and how many rounds after the first it took. */
export async function sendEmailInRounds(spec: EmailRounds): Promise<EffectResult & { laterRounds: number }> {
  const { effects, integrations, key, to, subject, text } = spec;
  const send = (deliverTo: string[], round: number) =>
    effects.run({
      key: round === 0 ? key : `${key}:owed:${round}`,
      kind: spec.kind,
      incidentId: spec.incidentId,
      maxBudgetMs: spec.maxBudgetMs,
      // SMTP cannot be asked whether a message whose final reply was lost was delivered: at most once.
      onUncertain: 'refuse',
      perform: async (ctx) => {
        try {
          const sent = await integrations.email({ to, ...(round > 0 ? { deliverTo } : {}), subject, text, idempotencyKey: spec.messageKey ?? key, signal: ctx.signal });
          return { externalId: sent.messageId, detail: sent.response };
        } catch (err) {
          if (!(err instanceof EmailPartlySentError) || err.owed === undefined) throw err;
          return { externalId: err.messageId, detail: owedDetail(err.owed) };
        }
      },
    });
  let r = await send(to, 0);
  let laterRounds = 0;
  for (let owed = owedOf(r.detail); owed.length > 0; owed = owedOf(r.detail)) r = await send(owed, ++laterRounds);
  return { ...r, laterRounds };
}

/**
 * A round's record of the recipients it still owes (side_effects.detail), and back. A relay's own answer,
 * the detail of a complete round, never starts with the prefix.
 */
const OWED = 'owed to (deferred by the relay): ';
const owedDetail = (owed: string[]) => `${OWED}${JSON.stringify(owed)}`;
function owedOf(detail: string | undefined): string[] {
  if (detail === undefined || !detail.startsWith(OWED)) return [];
  const owed: unknown = JSON.parse(detail.slice(OWED.length));
  return Array.isArray(owed) ? owed.filter((a): a is string => typeof a === 'string') : [];
}
