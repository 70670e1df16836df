// Pages of a list bounded in rows and in bytes (GET /api/rules, /api/jobs, /api/environments). Pure: the
// repositories measure rows and read them, the services make and check cursors.

/**
 * How many of `sizes` (in order) one page takes: at most `limit`, and no more once their bytes pass
 * `maxBytes`, one at least (a row is bounded on its own: a rule's definition is at most 1 MiB).
 */
export function rowsWithin(sizes: readonly { bytes: number | string }[], limit: number, maxBytes: number): number {
  let bytes = 0;
  let taken = 0;
  for (const s of sizes.slice(0, limit)) {
    bytes += Number(s.bytes);
    if (taken > 0 && bytes > maxBytes) break;
    taken++;
  }
  return taken;
}

/** Where a page of rules ends: rules are listed by name, then id (names repeat among deleted rules). */
export interface RulePosition {
  name: string;
  id: string;
}
