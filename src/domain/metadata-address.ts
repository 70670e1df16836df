/**
 * Where a rule-directed call may be aimed, judged on an IP address (ipaddr.js does the parsing).
 *
 * - {@link metadataAddressReason}: cloud instance-metadata services and unspecified addresses, which no
 *   rule-directed call may ever reach, whatever the operator allows. The rule schema checks a
 *   notify.webhook URL with it when a rule is saved; the worker's egress guard checks every address it
 *   connects to.
 * - {@link specialRangeReason}: every address that is not public unicast (loopback, RFC 1918 private,
 *   link-local, ULA, CGNAT, multicast, reserved, NAT64/6to4/Teredo forms that embed an IPv4 address…):
 *   refused by the egress guard unless ACTION_EGRESS_ALLOW names it.
 *
 * IPv4-mapped IPv6 addresses (::ffff:127.0.0.1) are judged as the IPv4 address they carry. Forms that
 * reach an IPv4 address through a translator or a tunnel (NAT64, IPv4-translated, 6to4, Teredo) are
 * judged as themselves and, through {@link embeddedIPv4}, as the IPv4 address they carry: with NAT64
 * allowed, 64:ff9b::a9fe:a9fe is still 169.254.169.254. So are IPv4-compatible forms (::/96 in hex,
 * ::7f00:1), which ipaddr.js calls plain unicast: ::a9fe:a9fe is 169.254.169.254.
 * Pure code: no I/O.
 */
import ipaddr from 'ipaddr.js';

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

/** The address of an IP literal (brackets allowed), IPv4-mapped forms unwrapped; undefined for names. */
export function parseAddress(text: string): IpAddress | undefined {
  const bare = text.replace(/^\[|\]$/g, '');
  if (!ipaddr.IPv6.isValid(bare) && !ipaddr.IPv4.isValidFourPartDecimal(bare)) return undefined;
  return ipaddr.process(bare);
}

/**
 * Cloud metadata and credential endpoints: 169.254.169.254 (AWS, GCP, Azure, OpenStack, DigitalOcean…),
 * AWS's IPv6 fd00:ec2::254, ECS task credentials 169.254.170.2, EKS Pod Identity 169.254.170.23 and
 * fd00:ec2::23, Alibaba 100.100.100.200, Oracle 192.0.0.192, Azure's WireServer 168.63.129.16.
 */
const METADATA: [IpAddress, number][] = [
  '169.254.169.254/32',
  'fd00:ec2::254/128',
  '169.254.170.2/32',
  '169.254.170.23/32',
  'fd00:ec2::23/128',
  '100.100.100.200/32',
  '192.0.0.192/32',
  '168.63.129.16/32',
].map((c) => ipaddr.parseCIDR(c));

/** Whether `ip` is inside `net/bits` (false across families: callers unwrap IPv4-mapped forms first). */
export function inCidr(ip: IpAddress, [net, bits]: [IpAddress, number]): boolean {
  return ip.kind() === net.kind() && (ip as ipaddr.IPv4).match(net as ipaddr.IPv4, bits);
}

const WELL_KNOWN_NAT64: [IpAddress, number] = ipaddr.parseCIDR('64:ff9b::/96');
const LOCAL_NAT64: [IpAddress, number] = ipaddr.parseCIDR('64:ff9b:1::/48');
const IPV4_COMPATIBLE: [IpAddress, number] = ipaddr.parseCIDR('::/96');

const v4At = (bytes: readonly number[], at: readonly number[]): ipaddr.IPv4 => new ipaddr.IPv4(at.map((i) => bytes[i] ?? 0));

/**
 * The IPv4 addresses an IPv6 address sends its traffic to through a translator or a tunnel, to be judged
 * like that IPv4 address:
 *
 * - NAT64 (RFC 6052 well-known prefix 64:ff9b::/96, and RFC 8215's local-use 64:ff9b:1::/48 read as the
 *   /96 prefixes deployed in it): the last 32 bits;
 * - IPv4-translated (::ffff:0:a.b.c.d, RFC 6145): the last 32 bits;
 * - 6to4 (2002:AABB:CCDD::/48): bits 16 to 47;
 * - Teredo (2001::/32): the server (bits 32 to 63) and the client (the last 32 bits, inverted);
 * - IPv4-compatible (::a.b.c.d, RFC 4291 2.5.5.1, deprecated; ipaddr.js parses the dotted spelling as
 *   IPv4-mapped but calls the hex one, ::7f00:1, plain unicast): the last 32 bits. :: and ::1 are
 *   unspecified and loopback themselves, not 0.0.0.0 and 0.0.0.1.
 *
 * IPv4-mapped forms are unwrapped by {@link parseAddress} already. Empty for anything else.
 */
export function embeddedIPv4(ip: IpAddress): ipaddr.IPv4[] {
  if (ip.kind() !== 'ipv6') return [];
  const b = (ip as ipaddr.IPv6).toByteArray();
  const last = [12, 13, 14, 15];
  switch (ip.range()) {
    case 'rfc6052':
    case 'rfc6145':
      return [v4At(b, last)];
    case '6to4':
      return [v4At(b, [2, 3, 4, 5])];
    case 'teredo':
      return [v4At(b, [4, 5, 6, 7]), new ipaddr.IPv4(last.map((i) => (b[i] ?? 0) ^ 0xff))];
    case 'unicast':
      // :: and ::1 have their own ranges (unspecified, loopback), so never reach this case.
      return inCidr(ip, IPV4_COMPATIBLE) ? [v4At(b, last)] : [];
    default:
      return [];
  }
}

/**
 * The other places RFC 6052 lets a local-use NAT64 prefix (inside 64:ff9b:1::/48) hold the IPv4 address:
 * prefixes of 48, 56 and 64 bits (octet 8 is skipped). Checked for metadata addresses only, which are
 * refused whatever the operator's layout; a reading that happens to hit one is refused too.
 */
function otherNat64Readings(ip: IpAddress): ipaddr.IPv4[] {
  if (!inCidr(ip, LOCAL_NAT64) || inCidr(ip, WELL_KNOWN_NAT64)) return [];
  const b = (ip as ipaddr.IPv6).toByteArray();
  return [v4At(b, [6, 7, 9, 10]), v4At(b, [7, 9, 10, 11]), v4At(b, [9, 10, 11, 12])];
}

/**
 * Why an IP literal may never be reached by a rule-directed call, or undefined when it may (or when the
 * text is not an IP literal: a name is checked on the addresses it resolves to, by the worker). An address
 * that carries a metadata or unspecified IPv4 address (NAT64, 6to4, Teredo…) is refused as that address.
 */
export function metadataAddressReason(address: string): string | undefined {
  const ip = parseAddress(address);
  if (!ip) return undefined;
  const own = ownMetadataReason(ip);
  if (own) return own;
  for (const v4 of embeddedIPv4(ip)) {
    const carried = ownMetadataReason(v4);
    if (carried) return `${carried}, carried by ${ip.toString()} (${v4.toString()})`;
  }
  for (const v4 of otherNat64Readings(ip)) {
    if (METADATA.some((cidr) => inCidr(v4, cidr))) return `a cloud metadata address, carried by ${ip.toString()} (${v4.toString()})`;
  }
  return undefined;
}

function ownMetadataReason(ip: IpAddress): string | undefined {
  if (METADATA.some((cidr) => inCidr(ip, cidr))) return 'a cloud metadata address';
  const range = ip.range();
  if (range === 'unspecified') return ip.kind() === 'ipv4' ? 'unspecified (0.0.0.0/8)' : 'unspecified (::)';
  return undefined;
}

const DESCRIBED: Record<string, string> = {
  loopback: 'loopback',
  private: 'private (RFC 1918)',
  linkLocal: 'link-local',
  uniqueLocal: 'unique local (fc00::/7)',
  carrierGradeNat: 'carrier-grade NAT (100.64.0.0/10)',
  multicast: 'multicast',
  broadcast: 'broadcast',
  unspecified: 'unspecified',
  reserved: 'reserved',
  rfc6052: 'NAT64 (embeds an IPv4 address)',
  rfc6145: 'IPv4-translated (embeds an IPv4 address)',
  '6to4': '6to4 (embeds an IPv4 address)',
  teredo: 'Teredo (embeds an IPv4 address)',
};

/** Why an address is not public unicast (to be refused unless allowed), or undefined when it is. */
export function specialRangeReason(ip: IpAddress): string | undefined {
  const range = ip.range();
  if (range === 'unicast') return undefined;
  return DESCRIBED[range] ?? `not a public address (${range})`;
}
