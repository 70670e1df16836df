import { spawn, execFile } from 'node:child_process';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { unusedPort } from './ports.js';

const execFileAsync = promisify(execFile);
const SSHD = '/usr/sbin/sshd';

export interface SshdHandle {
  host: string;
  port: number;
  username: string;
  /** OpenSSH private key text of a client key listed in authorized_keys. */
  privateKey: string;
  /** `SHA256:…` of the server's host key, as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  /** Temp dir holding keys, config and logs (removed by stop()). */
  dir: string;
  /** What sshd logged so far (-e: to stderr). */
  logs(): string;
  stop(): Promise<void>;
}

export interface KeyPair {
  privateKey: string;
  publicKey: string;
  fingerprint: string;
}

/** Generates an ed25519 key pair with ssh-keygen under `dir/name`. */
export async function generateKeyPair(dir: string, name: string): Promise<KeyPair> {
  const path = join(dir, name);
  await execFileAsync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `selfheal-test-${name}`, '-f', path]);
  const { stdout } = await execFileAsync('ssh-keygen', ['-l', '-f', `${path}.pub`]);
  const fingerprint = stdout.split(/\s+/)[1] ?? '';
  return { privateKey: await readFile(path, 'utf8'), publicKey: (await readFile(`${path}.pub`, 'utf8')).trim(), fingerprint };
}

/** Resolves once something on host:port answers with an SSH banner. */
async function sshBanner(host: string, port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('error', () => done(false));
    sock.once('data', (chunk: Buffer) => done(chunk.toString('latin1').startsWith('SSH-')));
  });
}

/**
 * Starts a real OpenSSH sshd on 127.0.0.1 with a free port, a fresh host key and one authorized client
 * key, for the current user. Needs the `openssh-server` package.
 */
export async function startSshd(): Promise<SshdHandle> {
  try {
    await access(SSHD);
  } catch {
    throw new Error(`${SSHD} not found: install OpenSSH server (apt-get install openssh-server) to run SSH tests`);
  }
  // Privilege separation directory required by sshd.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 }).catch(() => undefined);

  const dir = await mkdtemp(join(tmpdir(), 'selfheal-sshd-'));
  const host = '127.0.0.1';
  const username = userInfo().username;
  const hostKey = await generateKeyPair(dir, 'ssh_host_ed25519_key');
  const client = await generateKeyPair(dir, 'client_key');
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, `${client.publicKey}\n`, { mode: 0o600 });
  const port = await unusedPort();
  const configPath = join(dir, 'sshd_config');
  await writeFile(
    configPath,
    [
      `Port ${port}`,
      `ListenAddress ${host}`,
      `HostKey ${join(dir, 'ssh_host_ed25519_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'StrictModes no',
      'UsePAM no',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      `AllowUsers ${username}`,
      'X11Forwarding no',
      'AllowTcpForwarding no',
      'PrintMotd no',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );

  let log = '';
  const child = spawn(SSHD, ['-D', '-e', '-f', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr.on('data', (c: Buffer) => (log += c.toString()));
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    resolve();
  }));
  child.once('error', (err) => (log += `spawn error: ${err.message}\n`));

  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exitedPromise;
      clearTimeout(killer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 10_000;
  while (!(await sshBanner(host, port))) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`sshd did not start on ${host}:${port}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    host,
    port,
    username,
    privateKey: client.privateKey,
    hostKeyFingerprint: hostKey.fingerprint,
    dir,
    logs: () => log,
    stop,
  };
}
