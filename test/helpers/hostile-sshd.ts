import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import { fingerprintOfKeyBlob } from '../../src/executors/ssh.js';

const { Server, utils } = ssh2;
/** ssh2's table of the signal names its Server may send (it refuses any other). */
const { SIGNALS } = createRequire(import.meta.url)('ssh2/lib/protocol/constants.js') as { SIGNALS: Record<string, number> };

/**
 * How the hostile host ends every command: an exit status (any uint32), an exit signal with this name
 * (without `SIG`), or neither (`none`: the channel closes with no exit status or signal sent).
 */
export type HostileExit = { status: number } | { signal: string } | { none: true };

export interface HostileSshd {
  host: string;
  port: number;
  username: string;
  /** OpenSSH private key text of a client key (any key is accepted). */
  privateKey: string;
  /** `SHA256:…` of the server's host key, to pin. */
  hostKeyFingerprint: string;
  /** The commands it was sent, in order. */
  commands: string[];
  stop(): Promise<void>;
}

/**
 * An ed25519 key pair ssh2 reads back. Its generateKeyPairSync now and then (5 in 2,000, a reviewer counted)
 * writes a public key its own parseKey refuses ("Malformed OpenSSH public key"): made again until both
 * halves parse, so a hostile host's test never fails on the key it happened to draw.
 */
function usableKeyPair(): { private: string; public: string } {
  for (let i = 0; ; i++) {
    const pair = utils.generateKeyPairSync('ed25519');
    if (!(utils.parseKey(pair.public) instanceof Error) && !(utils.parseKey(pair.private) instanceof Error)) return pair;
    if (i >= 20) throw new Error('ssh2 made 20 ed25519 key pairs it cannot read back');
  }
}

/**
 * A compromised management VM: an ssh2 Server that accepts any key, runs nothing, prints one line and ends
 * every exec with `exit` (a real sshd cannot send an exit status above 255 or a made-up signal name, nor
 * close a session's channel without an exit status or signal).
 */
export async function startHostileSshd(exit: HostileExit): Promise<HostileSshd> {
  const hostKey = usableKeyPair();
  const client = usableKeyPair();
  const parsed = utils.parseKey(hostKey.public);
  if (parsed instanceof Error) throw parsed;
  const commands: string[] = [];
  // ssh2 sends only the signal names it knows: let it send this one too, as a hostile host would.
  if ('signal' in exit) SIGNALS[exit.signal.toUpperCase()] = 1;
  const server = new Server({ hostKeys: [hostKey.private] }, (conn) => {
    conn.on('error', () => undefined);
    conn.on('authentication', (ctx) => ctx.accept());
    conn.on('ready', () =>
      conn.on('session', (accept) => {
        const session = accept();
        session.on('exec', (acceptExec, _reject, info) => {
          commands.push(info.command);
          const stream = acceptExec();
          stream.write('hostile host here\n');
          if ('status' in exit) stream.exit(exit.status);
          else if ('signal' in exit) stream.exit(exit.signal, false, 'core dumped elsewhere');
          stream.end();
        });
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    username: 'root',
    privateKey: client.private,
    hostKeyFingerprint: fingerprintOfKeyBlob(parsed.getPublicSSH()),
    commands,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
