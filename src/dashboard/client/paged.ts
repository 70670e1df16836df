// A list the API pages by cursor (GET /api/rules, /api/jobs, /api/environments) shown a page at a time: the
// first page as a table, and a "More" button under it while the API says more follow (nextCursor), which
// appends the next page's rows. Each page is bounded in rows and bytes by the API, so a team holding large
// rules no longer makes one answer of them all.
import { h, table, type Child } from './dom.js';
import type { ViewContext } from './router.js';
import type { PageOf } from './types.js';

export interface PagedList<T> {
  /** The list's path without a query, e.g. `/api/rules`. */
  path: string;
  /** Rows a page asks for. */
  limit: number;
  /** The table's data-testid; the button's is `<testid>-more`. */
  testid: string;
  headers: readonly string[];
  /** The rows of one page's items (may ask the API for more about them). */
  rows: (items: T[]) => Promise<HTMLTableRowElement[]> | HTMLTableRowElement[];
  /** Shown when the first page is empty. */
  empty: string;
}

/** The first page as a table with its More button (or the empty text), ready for ctx.show. */
export async function pagedList<T>(ctx: ViewContext, list: PagedList<T>): Promise<Child[]> {
  const url = (cursor: string | null) => `${list.path}?${new URLSearchParams({ limit: String(list.limit), ...(cursor ? { cursor } : {}) })}`;
  const first = await ctx.api.get<PageOf<T>>(url(null), { signal: ctx.signal });
  if (first.items.length === 0) return [h('p', { class: 'muted' }, list.empty)];
  const tbl = table(list.testid, list.headers, await list.rows(first.items));
  const more = h('button', { type: 'button', class: 'secondary', 'data-testid': `${list.testid}-more` }, 'More');
  let cursor = first.nextCursor;
  more.onclick = async () => {
    more.disabled = true;
    try {
      const page = await ctx.api.get<PageOf<T>>(url(cursor), { signal: ctx.signal });
      tbl.append(...(await list.rows(page.items)));
      cursor = page.nextCursor ?? null;
      if (!cursor) more.remove();
    } catch (err) {
      ctx.flash((err as Error).message, true);
    } finally {
      more.disabled = false;
    }
  };
  return [tbl, cursor ? more : null];
}
