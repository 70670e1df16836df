// The one concurrency limiter (CLI listings, metrics refresh, fault tests): no dependencies, usable from any
// layer. Hand-written because it is twelve lines; p-map would do the same for a dependency.

/** Runs `fn` over `items` (with each one's index), at most `limit` at a time, keeping the order of the results. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}
