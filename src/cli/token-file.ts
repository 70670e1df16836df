// `--token-file <path>`: reading the token from a file, and what the CLI says about who else can read or
// change that file.
import { closeSync, constants, fstatSync, openSync, readFileSync, readlinkSync, realpathSync, type Stats } from 'node:fs';
import path from 'node:path';
import { CliError, usageError } from './errors.js';

/** Longest token file read (an API token is 50-odd characters). */
const MAX_TOKEN_FILE_BYTES = 4096;

/** Set to 1 to say a token file its group or other users can read is so on purpose: that warning is not given. */
export const READABLE_OK_ENV = 'SELFHEAL_TOKEN_FILE_READABLE_OK';

/** What readTokenFile needs to know about the process and the machine (tests give their own). */
export interface TokenFileContext {
  env: Record<string, string | undefined>;
  /** The effective user id (undefined where there is none: Windows). */
  euid?: number;
  /** The text of /proc/self/mountinfo, or undefined where there is none (not Linux). */
  mountinfo?: () => string | undefined;
}

/**
 * The token in `file` (`--token-file`): its text without one final line end (`echo $TOKEN > file`). A
 * symbolic link is followed (a Kubernetes secret volume links each key through `..data/` to a file of its
 * own) and everything is checked on the file it leads to, through the descriptor read, never by its name
 * again. The file is opened without waiting (O_NONBLOCK), so a FIFO with no writer is refused as not a file
 * instead of holding the CLI for ever. Not found, not a regular file, longer than MAX_TOKEN_FILE_BYTES, or
 * empty (nothing but white space) is a usage error that never shows the file's text; a token holding a space
 * or a control character is refused before it is sent (http-client.ts tokenHeaderError). The token is used in
 * any case; what `warn` is told is tokenFileWarnings'.
 */
export function readTokenFile(file: string, warn: (text: string) => void, ctx: TokenFileContext): string {
  let text: string;
  try {
    const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw usageError(`--token-file ${file} is not a regular file (${fileKind(st)}); give a file that holds the token`);
      if (st.size > MAX_TOKEN_FILE_BYTES) throw usageError(`--token-file ${file} holds ${st.size} bytes; a token file holds the token alone (at most ${MAX_TOKEN_FILE_BYTES} bytes)`);
      const target = openedPath(fd, file);
      const mountinfo = ctx.mountinfo ? ctx.mountinfo() : ownMountinfo();
      const readOnly = target !== undefined && mountinfo !== undefined && onReadOnlyMount(target, st.dev, mountinfo);
      for (const w of tokenFileWarnings(file, st, { euid: ctx.euid, target, readOnlyMount: readOnly, readableOk: ctx.env[READABLE_OK_ENV] === '1' })) warn(w);
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw usageError(`--token-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (text.trim() === '') throw usageError(`--token-file ${file} is empty; it must hold the token`);
  return text.replace(/\r?\n$/, '');
}

/**
 * The warnings for a token file, as ssh gives for a private key, naming the file (and the file a link led
 * to), never its text; the token is used all the same.
 * - Its group or other users can write it (mode & 022): whoever can put a token of their own in it has your
 *   commands run as that token's owner, and what you send (rules, environments) lands in their team. Always
 *   said: nothing makes that safe.
 * - It belongs to a user who is neither you nor root: that user reads it and can change it, whatever its mode.
 * - Its group or other users can read it (mode & 044): the token is theirs too.
 * The last is not said for a file on a read-only mount: a Kubernetes Secret volume (the kubelet writes
 * 0644, root-owned, behind `..data/` links, and mounts it read-only) or a Docker secret, whose mode is set
 * where the volume is declared (`defaultMode`) and cannot be changed from here, so a warning on every
 * command would only teach people to ignore warnings. The owner's is said there too: a read-only mount
 * says nothing of the file's own path, through which its owner may still change it (a bind mount of a
 * user's directory), and a Secret's files are root's. Nor is the readable one said with
 * SELFHEAL_TOKEN_FILE_READABLE_OK=1, for a file shared with a group on purpose.
 */
export function tokenFileWarnings(
  file: string,
  st: Pick<Stats, 'mode' | 'uid'>,
  opts: { euid?: number; target?: string; readOnlyMount: boolean; readableOk: boolean },
): string[] {
  const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
  const named = opts.target !== undefined && opts.target !== path.resolve(file) ? `${file} (which leads to ${opts.target})` : file;
  const who = (group: number, other: number) => [st.mode & group ? 'its group' : undefined, st.mode & other ? 'other users' : undefined].filter((w) => w !== undefined).join(' and ');
  const out: string[] = [];
  if (st.mode & 0o022) {
    out.push(`warning: --token-file ${named} can be changed by ${who(0o020, 0o002)} (mode ${mode}): whoever puts a token of their own in it has your commands run as them; the token is used, but keep the file to its owner: chmod 600 ${file}`);
  }
  if (opts.euid !== undefined && st.uid !== opts.euid && st.uid !== 0) {
    out.push(`warning: --token-file ${named} belongs to uid ${st.uid}, neither you (uid ${opts.euid}) nor root: that user can read it and put another token in it; the token is used, but give a file of your own`);
  }
  if (st.mode & 0o044 && !opts.readOnlyMount && !opts.readableOk) {
    out.push(`warning: --token-file ${named} is open to ${who(0o040, 0o004)} (mode ${mode}); the token is used, but keep the file to its owner: chmod 600 ${file} (or, if it is shared on purpose, set ${READABLE_OK_ENV}=1)`);
  }
  return out;
}

/**
 * The path of the file open as `fd`, every link resolved: /proc/self/fd names the very file opened (a link
 * changed since cannot mislead it); elsewhere the path resolved again, or undefined when that fails.
 */
function openedPath(fd: number, file: string): string | undefined {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    try {
      return realpathSync(file);
    } catch {
      return undefined;
    }
  }
}

function ownMountinfo(): string | undefined {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Whether `file` (a resolved path, of a file on device `dev`) is on a read-only mount, by /proc/self/mountinfo
 * (proc(5)): the mount with the longest mount point holding `file` (the last listed of equals, which is the
 * one on top), taken only when its device is the file's own, read-only when its mount options or its file
 * system's say `ro`. A Kubernetes Secret volume is a tmpfs the kubelet writes, bind-mounted read-only into the
 * container: its mount options say `ro`, its file system's `rw`. Anything not found or not matching is
 * taken as writable.
 */
export function onReadOnlyMount(file: string, dev: number | bigint, mountinfo: string): boolean {
  const d = BigInt(dev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  let best: { point: string; readOnly: boolean; device: string } | undefined;
  for (const line of mountinfo.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const fields = line.slice(0, dash).split(' ');
    const after = line.slice(dash + 3).split(' ');
    if (fields.length < 6 || after.length < 3) continue;
    const point = fields[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    const holds = point === '/' || file === point || file.startsWith(`${point}/`);
    if (!holds || (best !== undefined && point.length < best.point.length)) continue;
    const readOnly = fields[5]!.split(',').includes('ro') || after[2]!.split(',').includes('ro');
    best = { point, readOnly, device: fields[2]! };
  }
  return best !== undefined && best.device === `${major}:${minor}` && best.readOnly;
}

/** What a file that is not a regular one is, in words (never its content). */
function fileKind(st: Stats): string {
  if (st.isFIFO()) return 'a named pipe';
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}
