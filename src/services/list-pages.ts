// Cursors of the lists paged by rows and bytes (GET /api/rules, /api/jobs, /api/environments): the sort key
// of the last row of the page (a rule's name and id, a job's id, an environment's name) as base64url JSON.
// A cursor only says where a page starts: the rows after it are still those of the teams the caller may read,
// so a cursor made up from another team's rule names no row and reaches none. One not made here is a 400
// naming `cursor`.
import { ValidationError } from './errors.js';

/** Bytes of rows one page of these lists holds at most (one row always: a row is at most about 1 MiB). */
export const LIST_PAGE_BYTES = 8 * 1024 * 1024;

/** The cursor after the row whose sort key is `key`. */
export const encodeCursor = (key: readonly string[]): string => Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');

const invalid = () => new ValidationError('invalid cursor: send the nextCursor of the previous page', [{ path: 'cursor', message: 'not a cursor this listing gave' }]);

/** The sort key of `length` strings a cursor of {@link encodeCursor} holds; a 400 naming `cursor` for anything else. */
export function decodeCursor(cursor: string, length: number): string[] {
  if (!/^[A-Za-z0-9_-]{1,1000}$/.test(cursor)) throw invalid();
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(key) || key.length !== length) throw invalid();
  for (const part of key as unknown[]) {
    // Postgres text holds no U+0000 and no lone surrogate: such a key is no position (and was a 500).
    if (typeof part !== 'string' || part.length === 0 || part.length > 300 || part.includes('\0') || !part.isWellFormed()) throw invalid();
  }
  return key as string[];
}
