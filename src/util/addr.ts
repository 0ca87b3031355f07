/**
 * IPv4 and MAC address parsing/formatting. Addresses travel as dotted-quad strings on the wire and as
 * unsigned 32-bit numbers (host order, `>>> 0`) inside the control thread and the workers.
 */

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parses a dotted quad; returns the address as an unsigned 32-bit number, or -1 if malformed. */
export function parseIPv4(s: string): number {
  const m = IPV4_RE.exec(s);
  if (!m) return -1;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255 || (m[i]!.length > 1 && m[i]![0] === '0')) return -1;
    v = v * 256 + o;
  }
  return v >>> 0;
}

export function formatIPv4(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Parses "a.b.c.d/len"; returns null if malformed. */
export function parseCidr(s: string): { addr: number; prefix: number } | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const addr = parseIPv4(s.slice(0, slash));
  const plen = s.slice(slash + 1);
  if (addr < 0 || !/^\d{1,2}$/.test(plen)) return null;
  const prefix = Number(plen);
  if (prefix > 32) return null;
  return { addr, prefix };
}

/** Netmask of a prefix length as an unsigned 32-bit number. */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses a dotted netmask ("255.255.255.0"); returns the prefix length, or -1 if not a contiguous mask. */
export function netmaskToPrefix(s: string): number {
  const v = parseIPv4(s);
  if (v < 0) return -1;
  for (let p = 0; p <= 32; p++) if (prefixMask(p) === v) return p;
  return -1;
}

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

export function parseMac(s: string): Uint8Array | null {
  if (!MAC_RE.test(s)) return null;
  return Uint8Array.from(s.split(':').map((h) => parseInt(h, 16)));
}

export function formatMac(b: Uint8Array, off = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(b[off + i]!.toString(16).padStart(2, '0'));
  return parts.join(':');
}

/** Parses "a.b.c.d:port" or "a.b.c.d" (port undefined). Returns null if malformed or port out of 0..65535. */
export function parseHostPort(s: string): { addr: number; port: number | undefined } | null {
  const colon = s.lastIndexOf(':');
  const host = colon < 0 ? s : s.slice(0, colon);
  const addr = parseIPv4(host);
  if (addr < 0) return null;
  if (colon < 0) return { addr, port: undefined };
  const ps = s.slice(colon + 1);
  if (!/^\d{1,5}$/.test(ps)) return null;
  const port = Number(ps);
  if (port > 65535) return null;
  return { addr, port };
}
