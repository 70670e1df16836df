/**
 * Addresses no rule-directed call may reach, whatever ACTION_EGRESS_DENY says: link-local ranges
 * (169.254.0.0/16, fe80::/10, where the metadata services of AWS, GCP, Azure and OpenStack answer),
 * AWS's IPv6 metadata address fd00:ec2::254, Alibaba's 100.100.100.200 and the unspecified addresses
 * (0.0.0.0/8, ::). Pure code: the rule schema checks a notify.webhook URL with it when a rule is saved,
 * and the worker's egress guard checks every address it connects to.
 */

function ipv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

/** Eight 16-bit groups, or undefined. Accepts `::` and a dotted IPv4 tail (`::ffff:1.2.3.4`). */
function ipv6(text: string): number[] | undefined {
  let s = text.toLowerCase();
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s)?.[1];
  if (tail !== undefined) {
    const n = ipv4(tail);
    if (n === undefined) return undefined;
    s = `${s.slice(0, -tail.length)}${Math.floor(n / 65536).toString(16)}:${(n % 65536).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] => (h === '' ? [] : h.split(':').map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  if ([...head, ...rest].some(Number.isNaN)) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const fill = 8 - head.length - rest.length;
  return fill >= 1 ? [...head, ...new Array<number>(fill).fill(0), ...rest] : undefined;
}

function ipv4Reason(n: number): string | undefined {
  if (Math.floor(n / 65536) === 0xa9fe) return 'link-local (169.254.0.0/16, cloud metadata)';
  if (Math.floor(n / 16777216) === 0) return 'unspecified (0.0.0.0/8)';
  if (n === 0x646464c8) return 'a cloud metadata address';
  return undefined;
}

/**
 * Why an IP literal (brackets allowed) may never be reached, or undefined when it may, or when the
 * text is not an IP literal (a name is checked on the addresses it resolves to, by the worker).
 */
export function metadataAddressReason(address: string): string | undefined {
  const text = address.replace(/^\[|\]$/g, '');
  const v4 = ipv4(text);
  if (v4 !== undefined) return ipv4Reason(v4);
  const g = ipv6(text);
  if (!g) return undefined;
  // An IPv4-mapped address (::ffff:a.b.c.d) is the IPv4 address it carries.
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return ipv4Reason(g[6]! * 65536 + g[7]!);
  if (g.every((x) => x === 0)) return 'unspecified (::)';
  if ((g[0]! & 0xffc0) === 0xfe80) return 'link-local (fe80::/10)';
  if (g[0] === 0xfd00 && g[1] === 0xec2 && g.slice(2, 7).every((x) => x === 0) && g[7] === 0x254) return 'a cloud metadata address';
  return undefined;
}
