// The backtest window as people write it: `--since 30d` (s, m, h, d, w), or explicit instants. Pure.

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const;

/** Longest window a backtest may ask for. */
export const MAX_WINDOW_SECONDS = 366 * 86_400;

/** Seconds of `30d`, `12h`, `90m`, `2w`, `45s`; undefined for anything else. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d{1,6})\s*([smhdw])\s*$/.exec(text);
  if (!m) return undefined;
  const seconds = Number(m[1]) * UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS];
  return seconds > 0 ? seconds : undefined;
}

/** `2d`, `5h`, `30m` or `45s`: the largest unit that expresses `seconds` rounded down, at least one of it. */
export function formatDuration(seconds: number): string {
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60]] as const) {
    if (seconds >= size) return `${Math.floor(seconds / size)}${unit}`;
  }
  return `${Math.max(1, Math.floor(seconds))}s`;
}
