// Cutting text to a bound. A JS string is UTF-16: a cut between the two halves of a surrogate pair (an
// emoji, say) leaves a lone surrogate, which JSON.stringify writes as `\ud83d` and Postgres jsonb refuses
// ("invalid input syntax for type json"), so a row holding it could never be written.

/** `text` cut to at most `n` UTF-16 units, never between the halves of a surrogate pair. */
export function cutAt(text: string, n: number): string {
  if (text.length <= n) return text;
  const code = text.charCodeAt(n - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? n - 1 : n);
}
