import { createHash, createHmac } from 'node:crypto';
import net from 'node:net';
import nodemailer from 'nodemailer';
import { isLoopbackHost } from '../domain/loopback.js';
import { NOT_HTTP_URL } from './egress.js';
import { EgressDeniedError, EmailSendError, HttpCallError } from './errors.js';
import { httpRequest, type FetchLike } from './http.js';
import { resolveSecretRef } from './secrets.js';

export interface HttpNotifyDeps {
  fetch?: FetchLike;
  /** A limit of the call's own; without one, only a call made without `signal` has the 15 s default. */
  timeoutMs?: number;
  /** The attempt's deadline, which bounds the call (src/executors/http.ts). */
  signal?: AbortSignal;
}

export interface SlackMessage {
  /** Incoming-webhook URL (a secret: resolve it from a secret reference, never log it). */
  webhookUrl: string;
  /** The secret reference the URL was read from: errors name it, never the URL or where it leads. */
  webhookUrlRef?: string | undefined;
  /** Where the URL is configured (`the secret env:X (the action's webhookUrlRef)`), named by an error only a change there fixes. */
  setting?: string | undefined;
  text: string;
  blocks?: unknown[];
}

/**
 * Posts to a Slack incoming webhook. Slack answers 200 with the text `ok`; 4xx (bad payload, revoked hook) is
 * permanent, 429/5xx retryable; a redirect is not followed and fails once, a 303 See Other included (Slack
 * never answers one: it comes from something in between that did not pass the post on). An incoming webhook returns no message id and takes no
 * idempotency key, and the channel cannot be read through the hook: a post whose answer was lost cannot
 * be found, so the caller must not send it again (activities/side-effects.ts: at most once). Errors carry
 * the status only, never the answer's body.
 */
export async function sendSlack(message: SlackMessage, deps: HttpNotifyDeps = {}): Promise<{ ok: true }> {
  const label = `slack webhook${message.webhookUrlRef ? ` (${message.webhookUrlRef})` : ''}`;
  const url = URL.parse(message.webhookUrl);
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') throw new HttpCallError(`${label}: destination refused: ${NOT_HTTP_URL}`, null, false, { cause: new EgressDeniedError(NOT_HTTP_URL) });
  const payload: Record<string, unknown> = { text: message.text };
  if (message.blocks) payload.blocks = message.blocks;
  const options = httpOptions(deps);
  const res = await httpRequest({
    method: 'POST',
    url: message.webhookUrl,
    label,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(payload),
    echoBody: false,
    // A live incoming webhook answers 200 "ok", never a redirect: one that redirects (revoked and moved, a
    // proxy's sign-on page) is fixed where its URL is configured, which the error names (never the URL; where
    // the redirect pointed as its origin only, the hook's own origin in words: the hook is a secret, and so
    // may be its Location's path).
    redirectFix: `set ${message.setting ?? (message.webhookUrlRef ? `the secret ${message.webhookUrlRef}` : "the secret the hook's URL is read from")} to the hook's current URL (an incoming webhook answers 200 "ok", not a redirect)`,
    // Slack answers a post to an incoming webhook 200 "ok", never 303: a 303 comes from something in between
    // (a captive proxy, a sign-on gateway) that did not pass the post on. Not delivered, not followed, not
    // retried (the same address meets the same answer); the error names where it pointed, as its origin only.
    seeOtherNotDelivered: 'Slack never answers a post with 303, so something in between (a proxy, a sign-on gateway) answered it and the message was not delivered (let the worker reach Slack without it)',
    // Slack answers "ok"; a hook that answers megabytes is not Slack.
    maxResponseBytes: 64 * 1024,
    ...options,
    fetch: secretUrlFetch(options.fetch ?? fetch),
  });
  if (res.text.trim() !== 'ok') {
    // The hook's answer is not repeated: the URL came from a rule's secret reference, not from us.
    throw new HttpCallError(`${label}: HTTP ${res.status} but the answer is not "ok" (not recorded)`, res.status, false);
  }
  return { ok: true };
}

/**
 * A fetch for a URL that is a secret (a Slack hook): what its failures say keeps nothing of the URL or of
 * where it led. The egress policy's reason names the address the URL's host resolved to, so a refusal
 * becomes a fixed phrase; any other failure keeps its error code only (ECONNREFUSED, ENOTFOUND), or
 * egress.ts's own words about a cut-off answer. A timeout or abort passes as it is (it names nothing).
 */
function secretUrlFetch(inner: FetchLike): FetchLike {
  return (async (input: Parameters<FetchLike>[0], init?: RequestInit) => {
    try {
      return await inner(input, init);
    } catch (err) {
      if (init?.signal?.aborted) throw err;
      const cause = (err as { cause?: unknown }).cause;
      if (cause instanceof EgressDeniedError) {
        throw new TypeError('fetch failed', { cause: new EgressDeniedError(cause.reason === NOT_HTTP_URL ? NOT_HTTP_URL : SECRET_URL_REFUSED) });
      }
      const code = (cause as { code?: unknown } | undefined)?.code;
      const message = cause instanceof Error ? cause.message : '';
      if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code)) throw new TypeError('fetch failed', { cause: { code } });
      throw new TypeError('fetch failed', { cause: { message: /^answer (larger than \d+ bytes|cut off)$/.test(message) ? message : 'no answer' } });
    }
  }) as FetchLike;
}

/** Why a secret URL's destination was refused, without naming the address it resolved to. */
const SECRET_URL_REFUSED = 'the address it leads to is not one rule-directed calls may reach (ACTION_EGRESS_ALLOW, ACTION_EGRESS_DENY)';

export interface EmailMessage {
  smtp: {
    host: string;
    port: number;
    /** true: implicit TLS (465). false: STARTTLS, required (a server that does not offer it gets nothing). */
    secure: boolean;
    /**
     * Without `secure`: send in clear text when the server offers no STARTTLS (the operator's choice for a
     * relay of their own network). With credentials only to a relay on this host (loopback), whose
     * connection no one on the network sees: the password is never sent readable across the network.
     */
    allowPlaintext?: boolean;
    user?: string;
    /** Secret reference (`env:…` / `file:…`) of the SMTP password. */
    passRef?: string;
  };
  from: string;
  to: string[];
  /**
   * Who is sent the message when that is not everyone `to` names (a later round to the recipients a relay
   * deferred): the envelope's recipients, while the header still names them all, as the first round did.
   */
  deliverTo?: string[] | undefined;
  subject: string;
  text: string;
  /** Key of the side effect: the Message-ID is derived from it, the same on every attempt. */
  idempotencyKey?: string;
}

export interface EmailDeps {
  env?: NodeJS.ProcessEnv;
  /** How long the relay may stay silent (connecting, greeting, any reply); default 15 s without `signal`. */
  timeoutMs?: number;
  /** Aborts the SMTP session (the attempt's deadline); with it, the relay may take until then to reply. */
  signal?: AbortSignal;
}

/**
 * nodemailer's timers of a session the attempt's deadline bounds (its signal closes the transport): a day,
 * the longest an action's `timeoutSeconds` allows, so they never cut a reply the action still waits for.
 */
const UNTIL_THE_DEADLINE_MS = 86_400_000;

/**
 * Sending failed after the server had accepted DATA: the message may have been delivered (its final
 * reply was lost). SMTP has no way to ask, so it must not be sent again.
 */
export class EmailMaybeSentError extends EmailSendError {
  readonly maybeSent = true;
}

/**
 * The relay took the message for some recipients and refused the others at RCPT TO (nodemailer then sends
 * to the rest and reports them as `rejected`). Known, not uncertain: it reached the others, so it is never
 * sent to them again (they would get it twice). When every refusal was temporary (4xx, a greylisting
 * relay), the caller may send the same message to the refused ones alone later (`owed`); otherwise the
 * action fails so that the refusal is seen.
 */
export class EmailPartlySentError extends EmailSendError {
  readonly partlySent = true;
  constructor(
    message: string,
    /** The recipients the relay refused, with its reply code when it gave one. */
    readonly refused: readonly { address: string; code: number | undefined }[],
    /** The Message-ID the others received. */
    readonly messageId: string,
  ) {
    super(message, false);
  }

  /** The refused recipients, when every refusal was temporary (4xx): a later attempt may reach them. */
  get owed(): string[] | undefined {
    return this.refused.every((r) => r.code !== undefined && r.code >= 400 && r.code < 500) ? this.refused.map((r) => r.address) : undefined;
  }
}

/** How many refused recipients an error names (the rest are counted). */
const MAX_NAMED_RECIPIENTS = 10;

/** A Message-ID that is the same on every attempt of one side effect, so a copy is recognisable. */
export function emailMessageId(key: string, from: string): string {
  const domain = /@([A-Za-z0-9.-]+)>?\s*$/.exec(from)?.[1] ?? 'selfheal.invalid';
  return `<${createHash('sha256').update(key).digest('hex').slice(0, 32)}.selfheal@${domain}>`;
}

/** Sends a plain-text email through SMTP with nodemailer; returns the Message-ID and the server's reply. */
export async function sendEmail(message: EmailMessage, deps: EmailDeps = {}): Promise<{ messageId: string; response?: string }> {
  const recipients = message.deliverTo ?? message.to;
  if (recipients.length === 0) throw new EmailSendError('email: no recipients', false);
  // Without TLS the password (AUTH PLAIN is the password in base64) and the message, approval links
  // included, cross the network readable; and one on the path can strip STARTTLS from the server's EHLO.
  const plaintext = !message.smtp.secure && message.smtp.allowPlaintext === true;
  if (plaintext && message.smtp.user !== undefined && !isLoopbackHost(message.smtp.host)) {
    throw new EmailSendError(`email: plaintext SMTP with credentials (SMTP_USER) is allowed only to a relay on loopback, not to ${message.smtp.host}`, false);
  }
  // A relay slower than 15 s to answer the message, within the action's `timeoutSeconds`, was cut: after
  // its 354 the email is never sent again, so the action failed "outcome unknown" though it had the time.
  const timeoutMs = deps.timeoutMs ?? (deps.signal ? UNTIL_THE_DEADLINE_MS : 15_000);
  let auth: { user: string; pass: string } | undefined;
  if (message.smtp.user !== undefined) {
    if (message.smtp.passRef === undefined) throw new EmailSendError('email: smtp.user given without smtp.passRef', false);
    auth = { user: message.smtp.user, pass: await resolveSecretRef(message.smtp.passRef, deps.env) };
  }
  // Whether the server said 354 to DATA: from then on a dropped connection may hide a delivered message.
  // nodemailer reports the SMTP dialogue (not the message) to its logger with `transactionLog`.
  let dataAccepted = false;
  const watch = (entry: { tnx?: string } | undefined, line: unknown): void => {
    if (entry?.tnx === 'server' && typeof line === 'string' && line.startsWith('354')) dataAccepted = true;
  };
  const quiet = (): void => undefined;
  const connection = deps.signal ? ownConnection(message.smtp.host, message.smtp.port, deps.signal) : undefined;
  const transport = nodemailer.createTransport({
    host: message.smtp.host,
    port: message.smtp.port,
    secure: message.smtp.secure,
    // STARTTLS or nothing: nodemailer asks for it even when the EHLO does not offer it, and stops before
    // AUTH or MAIL when the server cannot upgrade.
    requireTLS: !message.smtp.secure && !plaintext,
    ...(auth ? { auth } : {}),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    transactionLog: true,
    logger: { level: quiet, trace: quiet, debug: watch, info: quiet, warn: quiet, error: quiet, fatal: quiet },
    ...(connection ? { getSocket: connection.open } : {}),
  });
  const abort = (): void => connection?.destroy();
  deps.signal?.addEventListener('abort', abort, { once: true });
  try {
    if (deps.signal?.aborted) throw new EmailSendError('email: attempt deadline passed before sending', true);
    const info = await transport.sendMail({
      from: message.from,
      to: message.to,
      subject: message.subject,
      // Every line break as LF, which nodemailer sends as CRLF: a bare CR from incident text went through as
      // is, and `<CR>.<CR><LF>` is an end of data to some relays (SMTP smuggling; RFC 5321 2.3.8 forbids it).
      text: message.text.replace(/\r\n?/g, '\n'),
      ...(message.idempotencyKey !== undefined ? { messageId: emailMessageId(message.idempotencyKey, message.from) } : {}),
      ...(message.deliverTo !== undefined ? { envelope: { from: message.from, to: message.deliverTo } } : {}),
    });
    const refused = Array.isArray(info.rejected) ? info.rejected.map(String) : [];
    if (refused.length > 0) {
      // The reply code for each refused address, from the RCPT TO that refused it (the relay's text is not repeated).
      const codes = new Map<string, number>();
      for (const e of (info as { rejectedErrors?: Array<{ recipient?: unknown; responseCode?: unknown }> }).rejectedErrors ?? []) {
        if (typeof e.recipient === 'string' && typeof e.responseCode === 'number') codes.set(e.recipient, e.responseCode);
      }
      const named = refused.slice(0, MAX_NAMED_RECIPIENTS).map((r) => `${r}${codes.has(r) ? ` (${codes.get(r)})` : ''}`);
      const more = refused.length > MAX_NAMED_RECIPIENTS ? ` and ${refused.length - MAX_NAMED_RECIPIENTS} more` : '';
      const reached = recipients.length - refused.length;
      throw new EmailPartlySentError(
        `email via ${message.smtp.host}:${message.smtp.port}: sent to ${reached} of ${recipients.length} recipients (${info.messageId}); the relay refused ${named.join(', ')}${more} at RCPT TO. Not sent again, so those it reached do not get it twice`,
        refused.map((address) => ({ address, code: codes.get(address) })),
        info.messageId,
      );
    }
    return { messageId: info.messageId, ...(typeof info.response === 'string' ? { response: info.response } : {}) };
  } catch (err) {
    if (err instanceof EmailSendError) throw err;
    const e = err as Error & { code?: string; responseCode?: number; command?: string };
    // The server's reply class decides (RFC 5321 §4.2.1): a 4xx to AUTH (454), MAIL FROM, RCPT TO (451, a
    // greylisting relay) or DATA is temporary, and nothing was handed over yet, so the attempt is retried;
    // a 5xx is permanent. nodemailer names all of them EAUTH or EENVELOPE, whatever the code. Without a
    // reply those names are nodemailer's own refusals (no credentials, no recipient, an empty message),
    // which no retry changes. A reply to the message itself (after 354) is not retried, 4xx included: from
    // 354 on an email is sent at most once (docs/guarantees.md, notify.email).
    const permanent =
      e.responseCode !== undefined
        ? e.responseCode >= 500 || dataAccepted
        : e.code === 'EAUTH' || e.code === 'EENVELOPE' || e.code === 'EMESSAGE';
    const what = `email via ${message.smtp.host}:${message.smtp.port}: ${e.code ?? 'error'}${e.responseCode ? ` ${e.responseCode}` : ''}`;
    if (e.code === 'ETLS' && e.command === 'STARTTLS') {
      throw new EmailSendError(`${what}: the server did not upgrade to TLS (STARTTLS), so nothing was sent; plaintext needs SMTP_URL ...?plaintext=true, and no SMTP_USER unless the relay is on loopback`, false, { cause: err });
    }
    // A reply to the message itself (250 missing, 4xx/5xx after the data) is an answer: nothing was sent.
    if (dataAccepted && e.responseCode === undefined) throw new EmailMaybeSentError(`${what} after the message was handed over`, false, { cause: err });
    throw new EmailSendError(what, !permanent, { cause: err });
  } finally {
    deps.signal?.removeEventListener('abort', abort);
    transport.close();
  }
}

/**
 * The TCP connection of a session the attempt's deadline bounds, opened here and handed to nodemailer, which
 * speaks SMTP and TLS (implicit or STARTTLS) over it as over its own. nodemailer's transport.close() leaves
 * the connection of a message in flight open (it releases a pool only), so the deadline stopped nothing: a
 * relay slow to reply held the session until an idle timer ran out, past the attempt's start-to-close timeout
 * when that was shorter. `destroy` ends it, whatever stage it is at.
 */
function ownConnection(host: string, port: number, signal: AbortSignal): { open: (options: unknown, callback: (err: Error | null, socketOptions: object) => void) => void; destroy: () => void } {
  let socket: net.Socket | undefined;
  let pending: ((err: Error) => void) | undefined;
  const destroy = (): void => {
    socket?.destroy();
    pending?.(Object.assign(new Error('the attempt deadline passed while connecting'), { code: 'ETIMEDOUT' }));
  };
  return {
    destroy,
    open(_options, callback) {
      const s = net.connect({ host: host.replace(/^\[|\]$/g, ''), port });
      socket = s;
      const settle = (err: Error | null): void => {
        pending = undefined;
        s.removeListener('error', settle);
        s.removeListener('connect', connected);
        callback(err, err ? {} : { connection: s });
      };
      const connected = (): void => settle(null);
      pending = settle;
      s.once('connect', connected);
      s.once('error', settle);
      if (signal.aborted) destroy();
    },
  };
}

export interface WebhookMessage {
  url: string;
  body: unknown;
  /** Signing secret value (resolve from a secret reference). Without it no signature header is sent. */
  secret?: string;
  idempotencyKey?: string;
}

export interface WebhookDeps extends HttpNotifyDeps {
  /** Clock, for tests. */
  now?: () => Date;
}

export const SIGNATURE_HEADER = 'X-SelfHeal-Signature';
export const TIMESTAMP_HEADER = 'X-SelfHeal-Timestamp';

/**
 * `v2=<hex HMAC-SHA256 of "<timestamp>\n<idempotency key>\n<raw body>">`, the value of X-SelfHeal-Signature,
 * where timestamp is the X-SelfHeal-Timestamp header (Unix seconds) and the key is the Idempotency-Key
 * header (empty when none is sent). The MAC covers both headers a receiver acts on: one that rejects old
 * timestamps (say, older than five minutes) also rejects a captured delivery replayed with a fresh
 * timestamp, and one that deduplicates on the key also drops a replay within those minutes with another
 * key swapped in. A header value cannot hold a line feed, so the fields cannot be shifted into each other.
 * (`v1` signed "<timestamp>.<raw body>" and left the key open to such a swap; it is no longer sent.)
 */
export function signWebhookBody(timestamp: string, idempotencyKey: string, rawBody: string | Buffer, secret: string): string {
  return `v2=${createHmac('sha256', secret).update(`${timestamp}\n${idempotencyKey}\n`).update(rawBody).digest('hex')}`;
}

/** POSTs JSON to a generic webhook, signed when a secret is given; returns the status (303: a See Other to the url's own origin). Errors carry the status only, never the answer's body. */
export async function sendWebhook(message: WebhookMessage, deps: WebhookDeps = {}): Promise<{ status: number }> {
  const raw = JSON.stringify(message.body);
  const timestamp = String(Math.floor((deps.now?.() ?? new Date()).getTime() / 1000));
  const headers: Record<string, string> = { 'Content-Type': 'application/json', [TIMESTAMP_HEADER]: timestamp };
  if (message.idempotencyKey !== undefined) headers['Idempotency-Key'] = message.idempotencyKey;
  if (message.secret !== undefined) headers[SIGNATURE_HEADER] = signWebhookBody(timestamp, message.idempotencyKey ?? '', raw, message.secret);
  let label = 'webhook';
  try {
    label = `webhook ${new URL(message.url).host}`;
  } catch {
    throw new HttpCallError('webhook: invalid URL', null, false);
  }
  // The receiver's answer is never used: only its status counts, and its body is not read.
  const res = await httpRequest({
    method: 'POST',
    url: message.url,
    label,
    headers,
    body: raw,
    echoBody: false,
    discardBody: true,
    // The receiver is the one the rule names: what it answers is not recorded but for a redirect's status and
    // its Location's origin, and the error says what to change.
    redirectFix: "change the action's url to the address that answers (a webhook is posted once, to that address only)",
    // A 303 See Other to the post, pointing to the url's own origin, says the receiver took it (its result is
    // elsewhere): delivered, the Location not followed. One pointing to another origin (a sign-on gateway in
    // front of the receiver) is not taken at its word: it fails once, naming that origin only.
    seeOtherIsDelivered: true,
    seeOtherNotDelivered: "a 303 counts as delivered only when it points to the url's own origin (scheme, host and port), and this one does not, so the post is not counted as delivered",
    ...httpOptions(deps),
  });
  return { status: res.status };
}

function httpOptions(deps: HttpNotifyDeps): { fetch?: FetchLike; timeoutMs?: number; signal?: AbortSignal } {
  const out: { fetch?: FetchLike; timeoutMs?: number; signal?: AbortSignal } = {};
  if (deps.fetch) out.fetch = deps.fetch;
  if (deps.timeoutMs !== undefined) out.timeoutMs = deps.timeoutMs;
  if (deps.signal) out.signal = deps.signal;
  return out;
}
