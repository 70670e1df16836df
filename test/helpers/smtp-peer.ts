import type { AddressInfo, Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  envelope: { from: string | null; to: string[] };
  raw: string;
  /** Header names lower-cased, values unfolded; repeated headers keep every value. */
  headers: Map<string, string[]>;
  subject: string | undefined;
  body: string;
  authUser: string | undefined;
}

export interface SmtpPeer {
  host: string;
  port: number;
  messages: ReceivedMail[];
  /** Resolves when `count` messages have arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  /**
   * The next message is stored (delivered) and then the connection is closed instead of the final 250:
   * the sender never learns that its message arrived.
   */
  dropNextReply(): void;
  /** The next message is stored and its final 250 sent only `ms` later (a relay scanning it first). */
  delayNextReply(ms: number): void;
  /**
   * The next `times` replies at `stage` are `code text` instead of a success (a greylisting relay: 451 to
   * the first RCPT TO). 'data' is the reply to the message's final ".": the message is then not stored.
   * With `only.recipient`, the refusals are for RCPT TO of that address alone (a greylisted recipient).
   */
  refuseNext(stage: SmtpStage, code: number, text: string, times?: number, only?: { recipient: string }): void;
  /** Every refusal sent so far, oldest first. */
  refusals: { stage: SmtpStage; code: number }[];
  /** TCP connections accepted so far: 0 means no sender ever spoke to this relay. */
  readonly connections: number;
  close(): Promise<void>;
}

export type SmtpStage = 'auth' | 'mail' | 'rcpt' | 'data';

function parseMail(raw: string): { headers: Map<string, string[]>; body: string } {
  const split = raw.search(/\r?\n\r?\n/);
  const head = split === -1 ? raw : raw.slice(0, split);
  const body = split === -1 ? '' : raw.slice(split).replace(/^\r?\n\r?\n/, '');
  const headers = new Map<string, string[]>();
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  for (const line of unfolded.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return { headers, body };
}

/**
 * A real SMTP server (smtp-server) on 127.0.0.1, random port, plain text (no STARTTLS). With `auth`,
 * AUTH PLAIN/LOGIN is required and checked; without it, mail is accepted anonymously.
 */
export async function startSmtpPeer(opts: { auth?: { user: string; pass: string } } = {}): Promise<SmtpPeer> {
  const messages: ReceivedMail[] = [];
  const waiters: Array<() => void> = [];
  const sockets = new Map<number, Socket>();
  let dropReplies = 0;
  const replyDelays: number[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const pending: { stage: SmtpStage; code: number; text: string; recipient?: string | undefined }[] = [];
  const refusals: { stage: SmtpStage; code: number }[] = [];
  /** The refusal queued for `stage`, taken off the queue and logged, as the error smtp-server answers with. */
  const refusal = (stage: SmtpStage, recipient?: string): (Error & { responseCode: number }) | undefined => {
    const at = pending.findIndex((p) => p.stage === stage && (p.recipient === undefined || p.recipient === recipient));
    if (at === -1) return undefined;
    const [r] = pending.splice(at, 1);
    refusals.push({ stage, code: r!.code });
    return Object.assign(new Error(r!.text), { responseCode: r!.code });
  };
  const server = new SMTPServer({
    secure: false,
    authOptional: opts.auth === undefined,
    allowInsecureAuth: true,
    disabledCommands: opts.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    logger: false,
    onAuth(auth, _session, callback) {
      const refused = refusal('auth');
      if (refused) {
        callback(refused);
        return;
      }
      if (opts.auth && auth.username === opts.auth.user && auth.password === opts.auth.pass) {
        callback(null, { user: auth.username });
        return;
      }
      callback(new Error('Invalid username or password'));
    },
    onMailFrom(_address, _session, callback) {
      callback(refusal('mail'));
    },
    onRcptTo(address, _session, callback) {
      callback(refusal('rcpt', address.address));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const refused = refusal('data');
        if (refused) {
          callback(refused);
          return;
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        const { headers, body } = parseMail(raw);
        const from = session.envelope.mailFrom;
        messages.push({
          envelope: { from: from ? from.address : null, to: session.envelope.rcptTo.map((r) => r.address) },
          raw,
          headers,
          subject: headers.get('subject')?.[0],
          body,
          authUser: typeof session.user === 'string' ? session.user : undefined,
        });
        for (const wake of waiters.splice(0)) wake();
        if (dropReplies > 0) {
          dropReplies -= 1;
          sockets.get(session.remotePort)?.destroy();
          return;
        }
        const delay = replyDelays.shift();
        if (delay !== undefined) {
          const t = setTimeout(() => {
            timers.delete(t);
            callback();
          }, delay);
          timers.add(t);
          return;
        }
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  let connections = 0;
  server.server.on('connection', (socket: Socket) => {
    connections += 1;
    const remote = socket.remotePort ?? 0;
    sockets.set(remote, socket);
    socket.once('close', () => sockets.delete(remote));
  });
  const { port } = server.server.address() as AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    messages,
    get connections() {
      return connections;
    },
    async waitFor(count, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        if (Date.now() > deadline) throw new Error(`smtp peer: expected ${count} messages, got ${messages.length}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
      return messages;
    },
    dropNextReply() {
      dropReplies += 1;
    },
    delayNextReply(ms) {
      replyDelays.push(ms);
    },
    refuseNext(stage, code, text, times = 1, only) {
      for (let n = 0; n < times; n++) pending.push({ stage, code, text, recipient: only?.recipient });
    },
    refusals,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        server.close(() => resolve());
      }),
  };
}
