// CPU time by process, read from /proc (Linux): which part of the stack a figure spends its CPU in, and
// how busy the whole machine was. Counters of processes that exit in between are lost, so the figures
// are a floor; every part of the bench stack lives for the whole run.
import { readFileSync, readdirSync } from 'node:fs';
import { round } from './lib.js';

/** Clock ticks per second of /proc's CPU counters (USER_HZ): 100 on every Linux architecture Node runs on. */
const TICKS = 100;

export interface CpuParts {
  temporal: number;
  api: number;
  worker: number;
  postgres: number;
  /** The load generator itself (this process). */
  bench: number;
}

export interface CpuSnapshot {
  at: number;
  parts: CpuParts;
  /** Each main worker process's CPU seconds (BENCH_WORKERS), in the order of their pids. */
  workers: number[];
  /** Whole machine, from /proc/stat: busy and total CPU seconds over all cores. */
  machine: { busy: number; total: number };
}

export interface CpuUse {
  seconds: number;
  /** CPU seconds by part. */
  parts: CpuParts;
  /** Busy share of all cores over the interval, 0–1. */
  machineBusy: number;
  /** With several main worker processes: each one's CPU seconds (how the task queue's work was shared). */
  workers?: number[];
}

/** CPU seconds a process has used (utime + stime, from /proc); 0 when it is gone or /proc is not there. */
export function processSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return 0;
  }
}

/** Every process named `name` (its comm), summed. */
function processesNamed(name: string): number {
  let total = 0;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) total += processSeconds(Number(entry));
    } catch {
      // Exited while we looked.
    }
  }
  return total;
}

function machineSeconds(): { busy: number; total: number } {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already counted in user).
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = cpu;
    const busy = user + nice + system + irq + softirq + steal;
    return { busy: busy / TICKS, total: (busy + idle + iowait) / TICKS };
  } catch {
    return { busy: 0, total: 0 };
  }
}

export function cpuSnapshot(pids: { temporal?: number | undefined; api?: number | undefined; worker?: number | (number | undefined)[] | undefined }): CpuSnapshot {
  const workers = Array.isArray(pids.worker) ? pids.worker : [pids.worker];
  return {
    at: performance.now(),
    parts: {
      temporal: processSeconds(pids.temporal),
      api: processSeconds(pids.api),
      worker: workers.reduce<number>((sum, pid) => sum + processSeconds(pid), 0),
      postgres: processesNamed('postgres'),
      bench: processSeconds(process.pid),
    },
    workers: workers.map((pid) => processSeconds(pid)),
    machine: machineSeconds(),
  };
}

export function cpuSince(before: CpuSnapshot, after: CpuSnapshot): CpuUse {
  const parts = {} as CpuParts;
  for (const key of Object.keys(before.parts) as (keyof CpuParts)[]) parts[key] = round(Math.max(0, after.parts[key] - before.parts[key]), 2);
  const total = after.machine.total - before.machine.total;
  return {
    seconds: round((after.at - before.at) / 1000, 2),
    parts,
    machineBusy: total > 0 ? round((after.machine.busy - before.machine.busy) / total, 2) : 0,
    ...(after.workers.length > 1 ? { workers: after.workers.map((s, i) => round(Math.max(0, s - (before.workers[i] ?? 0)), 2)) } : {}),
  };
}

/** CPU milliseconds per item by part, for "what one incident costs". */
export function perItemMs(use: CpuUse, items: number): CpuParts {
  const out = {} as CpuParts;
  for (const key of Object.keys(use.parts) as (keyof CpuParts)[]) out[key] = items > 0 ? round((use.parts[key] * 1000) / items, 1) : 0;
  return out;
}
