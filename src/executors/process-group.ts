/**
 * Signals a whole process group (the child was spawned with `detached: true`, so its pid is the
 * group id). Returns false when the group no longer exists.
 */
export function signalProcessGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}
