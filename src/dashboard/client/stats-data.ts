// Pure shaping of the effectiveness statistics for the dashboard's charts (no DOM, so Node tests run it).

export interface DayCount {
  day: string;
  runs: number;
  verified: number;
}

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

/** A rate as a percentage; `–` when unknown (nothing to divide). */
export const percent = (r: number | null | undefined): string => (r === null || r === undefined ? '–' : `${Math.round(r * 100)}%`);

/** Seconds for reading: `12m 30s`, `2h`, `–`. */
export function duration(s: number | null | undefined): string {
  if (s === null || s === undefined) return '–';
  const parts: string[] = [];
  let left = Math.round(s);
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60]] as const) {
    if (left >= size) {
      parts.push(`${Math.floor(left / size)}${unit}`);
      left %= size;
    }
  }
  if (left > 0 || parts.length === 0) parts.push(`${left}s`);
  return parts.slice(0, 2).join(' ');
}
