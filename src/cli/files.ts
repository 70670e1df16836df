// Files the CLI writes (`export -o`, `rules export -o`). Their folder is often a git checkout, where a
// committed symbolic link can lead anywhere: a write through it would replace whatever file the user may
// write (~/.ssh/authorized_keys, a shell profile) with an export. The reader refuses such links
// (gitops/manifests.ts); the writer refuses any link in the file's place, and, for a place named inside the
// working folder, any link on the way that leads out of it. Both ask the same question of a path
// (`leavesWorkingFolder`): a checkout whose committed `selfheal` leads to ~ is refused alike for -f and -o.
import { closeSync, constants, lstatSync, openSync, realpathSync, writeSync } from 'node:fs';
import path from 'node:path';
import { usageError } from './errors.js';

const linkRefused = (file: string) => usageError(`${file} is a symbolic link; nothing was written through it (remove it, or name the file it leads to)`);

/**
 * The real path of `file`, every symbolic link on the way resolved as the system resolves them when the file
 * is opened or its folders are made (`mkdir -p`), also when the file, or folders at the end of its path, do
 * not exist yet: those are taken as named, since nothing that does not exist is a link. A `..` steps back
 * from where the path has led so far, as the system does, not from the name written before it (the real
 * path of `selfheal/../x`, with `selfheal` a link to /home/me, is /home/x). Undefined for a link that leads
 * nowhere (a write through it would create the file it names, wherever that is).
 */
export function realPathOf(file: string): string | undefined {
  let real = realpathSync(path.isAbsolute(file) ? path.parse(file).root : '.');
  for (const step of file.split(path.sep)) {
    if (step === '' || step === '.') continue;
    if (step === '..') {
      real = path.dirname(real);
      continue;
    }
    const next = path.join(real, step);
    let link = false;
    try {
      link = lstatSync(next, { throwIfNoEntry: false })?.isSymbolicLink() ?? false;
    } catch {
      // Not there (a file on the way, ENOTDIR): named as it is, like a name that does not exist yet.
    }
    if (!link) {
      real = next;
      continue;
    }
    try {
      real = realpathSync(next);
    } catch {
      return undefined;
    }
  }
  return real;
}

/** Whether the real path of `file` is `folder`'s own, or inside it (false for a link that leads nowhere). */
export function leadsInside(file: string, folder: string): boolean {
  const real = realPathOf(file);
  const base = realpathSync(folder);
  return real !== undefined && (real === base || real.startsWith(base.endsWith(path.sep) ? base : `${base}${path.sep}`));
}

/**
 * Whether `target` is named inside the working folder (CI's checkout, a cloned repository) but leads out of
 * it through a symbolic link on the way: a change that turns `selfheal/` (or a folder on the way to a file)
 * into a link would otherwise have the CLI read .yaml/.json files from anywhere the link points, or create
 * folders and replace files there. A target named outside the working folder (an absolute path, ../) is
 * the caller's own choice.
 */
export function leavesWorkingFolder(target: string): boolean {
  const cwd = process.cwd();
  const relative = path.relative(cwd, path.resolve(target));
  const named = relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative);
  return named && !leadsInside(target, cwd);
}

/** Refuses a place to write (a file, or a folder to write into) for which `leavesWorkingFolder` holds. */
export function refuseLeavingWorkingFolder(target: string): void {
  if (leavesWorkingFolder(target)) throw usageError(`${target}: leads outside the working folder ${process.cwd()} through a symbolic link; nothing was written`);
}

/**
 * Writes `text` to `file` (created, or emptied first), never through a symbolic link in its place, nor,
 * when it is named inside the working folder, into a folder a link on the way leads out of it.
 */
export function writeOwnFile(file: string, text: string): void {
  // The folder is asked, not the file: a link in the file's place is refused by the open below, in its words.
  refuseLeavingWorkingFolder(path.dirname(file));
  let fd: number;
  try {
    // O_NOFOLLOW: a link at the last step fails the open (ELOOP), so no link swapped in after a check counts.
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o666);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw linkRefused(file);
    throw usageError(`cannot write ${file}: ${(err as Error).message}`);
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** Refuses a folder given to write into that is itself a symbolic link (a checkout's `selfheal/ -> ~/.ssh`). */
export function refuseLinkedFolder(folder: string): void {
  // `selfheal/` with its slash would be looked up through the link: the name without it is the link.
  const name = folder.replace(/(.)[/\\]+$/, '$1');
  if (lstatSync(name, { throwIfNoEntry: false })?.isSymbolicLink()) throw linkRefused(name);
}
