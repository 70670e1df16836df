import { readdirSync, readFileSync } from 'node:fs';

/**
 * Signals a whole process group (the child was spawned with `detached: true`, so its pid is the
 * group id). Returns false when the group no longer exists, or when nothing left in it is ours to signal
 * (EPERM: an agent running as another user than root, whose script left only a set-user-ID program such
 * as `sudo …` running). Never throws for those: it is called from timers and event handlers, where a throw
 * took the whole agent down, and the run never answered.
 */
export function signalProcessGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH' || code === 'EPERM') return false;
    throw err;
  }
}

/**
 * Signals every process of session `sid` (the child was spawned with `detached: true`, so it leads a
 * session of its own and its pid is the session id), found in /proc; returns how many were signalled.
 * The group kill misses what moved to a group of its own inside the session: a script that runs a command
 * under timeout(1) itself (`timeout 300 rsync …`: GNU timeout makes itself and its command a group of
 * their own), or a job-control shell's jobs. Only what called setsid() leaves the session. Where there is
 * no /proc (not Linux), nothing is found: the group kill is all there is.
 */
export function signalSession(sid: number, signal: NodeJS.Signals): number {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return 0;
  }
  let signalled = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // `pid (comm) state ppid pgrp session …`: comm may hold spaces and parentheses, so read after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[3]) !== sid) continue;
    try {
      process.kill(pid, signal);
      signalled += 1;
    } catch {
      // exited meanwhile, or not ours to signal
    }
  }
  return signalled;
}
