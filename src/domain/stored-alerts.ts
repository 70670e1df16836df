// The alerts of an incident as stored (incidents.alerts): bounded in bytes when fetched. Pure.
//
// PagerDuty allows 512 KB per alert body and triage keeps 50 alerts: 25 MB on one incident row, read
// whole by every reader of the row. What is kept is at most MAX_STORED_ALERTS_BYTES of JSON in total, and
// so per alert too: PagerDuty's REST answer repeats an alert's custom details (body.details and
// body.cef_details.details), so one alert PagerDuty accepted (512 KB) may be 1 MB of JSON, and is kept.
// Alerts are kept in PagerDuty's order (oldest first): one over MAX_ALERT_BYTES is left out, and from the
// first that would take the total past MAX_STORED_ALERTS_BYTES, it and every later one are. When any was
// left out, a last element, the marker {"type": "selfhealing_alerts_omitted", "omitted": n, "omittedBytes": b},
// says how many and how many bytes; rules and extractors never see it (withoutOmittedMarker).

import { jsonBytes } from './text.js';

/** Most JSON bytes of the alerts kept on one incident, all together. */
export const MAX_STORED_ALERTS_BYTES = 1024 * 1024;
/** Most JSON bytes of one alert kept: the whole budget (an alert of PagerDuty's largest, its details twice, fits). */
export const MAX_ALERT_BYTES = MAX_STORED_ALERTS_BYTES;
/** The `type` of the marker ending stored alerts when some were left out. */
export const OMITTED_ALERTS_TYPE = 'selfhealing_alerts_omitted';

/** The marker: how many of the fetched alerts were left out, and their JSON bytes. */
export interface OmittedAlerts {
  type: typeof OMITTED_ALERTS_TYPE;
  omitted: number;
  omittedBytes: number;
}

/** The alerts to store: at most MAX_ALERT_BYTES each and MAX_STORED_ALERTS_BYTES together, with the marker when some were left out. */
export function capAlerts(alerts: readonly unknown[], limits: { maxBytes: number; maxAlertBytes: number } = { maxBytes: MAX_STORED_ALERTS_BYTES, maxAlertBytes: MAX_ALERT_BYTES }): unknown[] {
  const kept: unknown[] = [];
  let bytes = 0;
  let omitted = 0;
  let omittedBytes = 0;
  let full = false;
  for (const alert of alerts) {
    const size = jsonBytes(alert);
    if (!full && size <= limits.maxAlertBytes && bytes + size <= limits.maxBytes) {
      kept.push(alert);
      bytes += size;
      continue;
    }
    if (size <= limits.maxAlertBytes) full = true;
    omitted++;
    omittedBytes += size;
  }
  if (omitted > 0) kept.push({ type: OMITTED_ALERTS_TYPE, omitted, omittedBytes } satisfies OmittedAlerts);
  return kept;
}

/**
 * Whether `a` is the marker capAlerts wrote: exactly its three keys. An alert from PagerDuty (or from whatever
 * answers at its base URL) that calls itself one has an `id` and other keys, and stays an alert: it can
 * neither hide itself from rules nor set the count shown.
 */
function isMarker(a: unknown): a is OmittedAlerts {
  if (typeof a !== 'object' || a === null || Array.isArray(a)) return false;
  const keys = Object.keys(a);
  const m = a as Record<string, unknown>;
  return keys.length === 3 && m.type === OMITTED_ALERTS_TYPE && Number.isSafeInteger(m.omitted) && Number.isSafeInteger(m.omittedBytes);
}

/** The marker when `alerts` ends with one (only capAlerts writes it, and only last). */
function markerOf(alerts: readonly unknown[]): OmittedAlerts | undefined {
  const last = alerts[alerts.length - 1];
  return isMarker(last) ? last : undefined;
}

/** The stored alerts without the marker: what rules, extractors and readers take for the incident's alerts. */
export function withoutOmittedMarker<T>(alerts: readonly T[]): T[] {
  return markerOf(alerts) ? alerts.slice(0, -1) : [...alerts];
}

/** How many alerts were left out when they were stored (the marker's), or null when none were. */
export function omittedAlerts(alerts: readonly unknown[] | null | undefined): { count: number; bytes: number } | null {
  const marker = markerOf(alerts ?? []);
  return marker ? { count: marker.omitted, bytes: marker.omittedBytes } : null;
}

/**
 * Alerts stored before capAlerts existed (or under other limits) capped as capAlerts would have, or
 * undefined when they are within the limits already. A marker already last is kept out of the count and
 * merged into the new one, so the counts stay those of what PagerDuty had.
 */
export function recapStoredAlerts(stored: readonly unknown[], limits?: { maxBytes: number; maxAlertBytes: number }): unknown[] | undefined {
  const before = markerOf(stored);
  const alerts = withoutOmittedMarker(stored);
  const capped = capAlerts(alerts, limits);
  const added = markerOf(capped);
  if (!added) return undefined;
  if (!before) return capped;
  return [...capped.slice(0, -1), { type: OMITTED_ALERTS_TYPE, omitted: before.omitted + added.omitted, omittedBytes: before.omittedBytes + added.omittedBytes } satisfies OmittedAlerts];
}
