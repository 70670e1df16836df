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
 * IPv4-mapped IPv6 addresses (::ffff:127.0.0.1) are judged as the IPv4 address they carry.
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

/**
 * Why an IP literal may never be reached by a rule-directed call, or undefined when it may (or when the
 * text is not an IP literal: a name is checked on the addresses it resolves to, by the worker).
 */
export function metadataAddressReason(address: string): string | undefined {
  const ip = parseAddress(address);
  if (!ip) return undefined;
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
