// Pure shaping of the effectiveness statistics for the dashboard's charts (no DOM, so Node tests run it).

import type { DayCount } from '../../contracts/stats.js';

export type { DayCount };
export { humanSeconds as duration, percent } from '../../contracts/stats.js';

const DAY = 86_400_000;

/** Every UTC day of the range (0 where nothing ran), as uPlot's columns: seconds, runs, verified. */
export function dailySeries(since: string, until: string, days: readonly DayCount[]): number[][] {
  const start = Math.floor(Date.parse(since) / DAY) * DAY;
  const end = Date.parse(until);
  const byDay = new Map(days.map((d) => [Date.parse(`${d.day}T00:00:00Z`), d]));
  const xs: number[] = [];
  const runs: number[] = [];
  const verified: number[] = [];
  for (let t = start; t < end && xs.length < 400; t += DAY) {
    xs.push(t / 1000);
    runs.push(byDay.get(t)?.runs ?? 0);
    verified.push(byDay.get(t)?.verified ?? 0);
  }
  return [xs, runs, verified];
}

/** `≤ 1m`, `≤ 5m`, … `≤ 1d`, `> 1d`: the labels of the time-to-resolve buckets. */
export function bucketLabels(boundsSeconds: readonly number[]): string[] {
  const short = (s: number) => (s % 86_400 === 0 ? `${s / 86_400}d` : s % 3600 === 0 ? `${s / 3600}h` : s % 60 === 0 ? `${s / 60}m` : `${s}s`);
  return [...boundsSeconds.map((b) => `≤ ${short(b)}`), `> ${short(boundsSeconds[boundsSeconds.length - 1] ?? 0)}`];
}
