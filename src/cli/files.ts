// Files the CLI writes (`export -o`, `rules export -o`). Their folder is often a git checkout, where a
// committed symbolic link can lead anywhere: a write through it would replace whatever file the user may
// write (~/.ssh/authorized_keys, a shell profile) with an export. The reader refuses such links
// (gitops/manifests.ts); the writer refuses any link in the file's place.
import { closeSync, constants, lstatSync, openSync, writeSync } from 'node:fs';
import { usageError } from './errors.js';

const linkRefused = (file: string) => usageError(`${file} is a symbolic link; nothing was written through it (remove it, or name the file it leads to)`);

/** Writes `text` to `file` (created, or emptied first), never through a symbolic link in its place. */
export function writeOwnFile(file: string, text: string): void {
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
