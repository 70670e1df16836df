// Reading an HTTP answer's body with a bound: undici's `text()` reads whatever the peer sends. One reader for
// the three HTTP clients (the CLI's, the PagerDuty REST client, the action executors'); it sits at the top
// of src, outside every layer, because the CLI and src/pagerduty may not import src/executors. It does no
// I/O of its own beyond consuming the stream it is given.

/**
 * Reads at most `maxBytes` of a response body, then cancels the rest (the connection is dropped, the
 * peer stops sending). `truncated` says the body was longer than that; callers that want all or nothing
 * refuse the answer then.
 */
export async function readBodyCapped(res: Response, maxBytes: number): Promise<{ text: string; truncated: boolean }> {
  if (!res.body) return { text: '', truncated: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > maxBytes) {
      chunks.push(value.subarray(0, maxBytes - size));
      await reader.cancel().catch(() => undefined);
      return { text: Buffer.concat(chunks).toString('utf8'), truncated: true };
    }
    chunks.push(value);
    size += value.byteLength;
  }
  return { text: Buffer.concat(chunks).toString('utf8'), truncated: false };
}
