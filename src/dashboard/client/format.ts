// Pure formatting for the dashboard: no DOM, so test/ui/dashboard-bundle.test.ts runs it in Node.

/** A date from the API in the reader's locale; the raw text when it is not a date; '' when absent. */
export function when(t: string | null | undefined): string {
  if (!t) return '';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? t : d.toLocaleString();
}

/** JSON for reading. */
export function pretty(v: unknown): string {
  return JSON.stringify(v, null, 2) ?? '';
}

/** The URL when it is absolute http(s), else undefined: links from PagerDuty payloads or action results are data. */
export function httpUrl(href: string | null | undefined): string | undefined {
  if (!href) return undefined;
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return undefined;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? href : undefined;
}

/** A job's schedule in words: `every 6h`, `cron 0 6 * * MON-FRI (Europe/Paris)`. */
export function scheduleText(s: { interval?: string | undefined; cron?: string | undefined; timezone?: string | undefined } | null | undefined): string {
  if (!s) return '';
  if (s.interval) return /^every/i.test(s.interval) ? s.interval : `every ${s.interval}`;
  if (s.cron) return `cron ${s.cron}${s.timezone ? ` (${s.timezone})` : ''}`;
  return JSON.stringify(s);
}

/** A duration in milliseconds as seconds with one decimal; '' when unknown. */
export function seconds(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '' : `${(ms / 1000).toFixed(1)} s`;
}
