import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { AppError } from "../core/errors.ts";

/**
 * Server-side request forgery guard for URLs an ADMIN gives us to call later (custom provider
 * endpoints, built-in providers' base URLs): only http(s), no credentials in the URL, and —
 * unless private addresses are explicitly allowed (ALLOW_PRIVATE_PROVIDER_URLS) — no host that
 * is, or resolves to, anything but a public unicast address.
 *
 * Note: this checks the URL when it is configured. A hostile DNS server can still answer
 * differently later (DNS rebinding); callers that want that closed too must pin the address.
 */

export interface ResolvedAddress {
  address: string;
  family: number;
}

export interface PublicUrlOptions {
  /** Loopback, private, link-local… hosts are accepted (self-hosted model servers). */
  allowPrivate: boolean;
  /** Resolves a host name to every address (default: node:dns/promises lookup with `all: true`). */
  lookup?: (host: string) => Promise<ResolvedAddress[]>;
  /** The request field named in the error (default `api_url`). */
  field?: string;
}

const MAX_URL_LENGTH = 2048;
const ONLY_PUBLIC =
  "only public addresses are allowed (ALLOW_PRIVATE_PROVIDER_URLS=true permits self-hosted endpoints)";

function refuse(field: string, message: string): AppError {
  return new AppError("VALIDATION_ERROR", `${field} ${message}`, { fields: [{ path: `/${field}`, message }] });
}

// ---- IPv4 ----------------------------------------------------------------------------------

/** The IPv4 ranges that are not public unicast, with why. */
const V4_BLOCKED: Array<[base: string, prefix: number, why: string]> = [
  ["0.0.0.0", 8, "an unspecified (this-network) address"],
  ["10.0.0.0", 8, "a private address"],
  ["100.64.0.0", 10, "a carrier-grade NAT (shared) address"],
  ["127.0.0.0", 8, "a loopback address"],
  ["169.254.0.0", 16, "a link-local address (cloud metadata lives here)"],
  ["172.16.0.0", 12, "a private address"],
  ["192.0.0.0", 24, "an IETF protocol-assignment address"],
  ["192.0.2.0", 24, "a documentation (TEST-NET-1) address"],
  ["192.168.0.0", 16, "a private address"],
  ["198.18.0.0", 15, "a benchmarking address"],
  ["198.51.100.0", 24, "a documentation (TEST-NET-2) address"],
  ["203.0.113.0", 24, "a documentation (TEST-NET-3) address"],
  ["224.0.0.0", 4, "a multicast address"],
  ["240.0.0.0", 4, "a reserved or broadcast address"],
];

function v4ToInt(ip: string): number {
  const parts = ip.split(".").map(Number);
  return (((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!) >>> 0;
}

const V4_RANGES = V4_BLOCKED.map(([base, prefix, why]) => {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { net: (v4ToInt(base) & mask) >>> 0, mask, why };
});

function v4Reason(n: number): string | null {
  for (const r of V4_RANGES) if ((n & r.mask) >>> 0 === r.net) return r.why;
  return null;
}

// ---- IPv6 ----------------------------------------------------------------------------------

/** The eight 16-bit groups of an IPv6 address (dotted IPv4 tails and zone ids allowed), or null. */
export function parseIPv6(raw: string): number[] | null {
  let s = raw.toLowerCase();
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  if (isIP(s) !== 6) return null;
  const lastColon = s.lastIndexOf(":");
  const last = s.slice(lastColon + 1);
  if (last.includes(".")) {
    // A dotted IPv4 tail becomes its two hex groups: ::ffff:1.2.3.4 → ::ffff:102:304.
    const n = v4ToInt(last);
    s = `${s.slice(0, lastColon + 1)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((g) => Number.parseInt(g, 16)));
  const double = s.indexOf("::");
  if (double < 0) {
    const groups = parse(s);
    return groups.length === 8 ? groups : null;
  }
  const left = parse(s.slice(0, double));
  const right = parse(s.slice(double + 2));
  const fill = 8 - left.length - right.length;
  if (fill < 1) return null;
  return [...left, ...new Array<number>(fill).fill(0), ...right];
}

function v6Reason(g: number[]): string | null {
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  const embedded = (hi: number, lo: number) => ((hi << 16) >>> 0) + lo;
  if (zeros(0, 8)) return "an unspecified address";
  if (zeros(0, 7) && g[7] === 1) return "a loopback address";
  // IPv4-mapped ::ffff:a.b.c.d and IPv4-compatible ::a.b.c.d: judged by the IPv4 inside.
  if (zeros(0, 5) && (g[5] === 0xffff || g[5] === 0)) {
    const why = v4Reason(embedded(g[6]!, g[7]!));
    return why ? `${why} (IPv4 inside IPv6)` : g[5] === 0 ? "a deprecated IPv4-compatible IPv6 address" : null;
  }
  // IPv4-translated ::ffff:0:a.b.c.d (SIIT).
  if (zeros(0, 4) && g[4] === 0xffff && g[5] === 0) {
    const why = v4Reason(embedded(g[6]!, g[7]!));
    if (why) return `${why} (IPv4-translated)`;
  }
  // Teredo 2001::/32 tunnels to an IPv4 address we cannot judge from here.
  if (g[0] === 0x2001 && g[1] === 0) return "a Teredo tunnel address";
  // IPv4/IPv6 translation 64:ff9b::/96 and 64:ff9b:1::/48.
  if (g[0] === 0x64 && g[1] === 0xff9b) {
    const why = v4Reason(embedded(g[6]!, g[7]!));
    if (why) return `${why} (NAT64)`;
  }
  // 6to4 2002:aabb:ccdd::/48 carries an IPv4 address.
  if (g[0] === 0x2002) {
    const why = v4Reason(embedded(g[1]!, g[2]!));
    if (why) return `${why} (6to4)`;
  }
  if (g[0] === 0x100 && zeros(1, 4)) return "a discard-only address";
  if ((g[0]! & 0xfe00) === 0xfc00) return "a private (unique local) address";
  if ((g[0]! & 0xffc0) === 0xfe80) return "a link-local address";
  if ((g[0]! & 0xffc0) === 0xfec0) return "a site-local address";
  if ((g[0]! & 0xff00) === 0xff00) return "a multicast address";
  return null;
}

/**
 * Why an IP address is not a public unicast address, or null when it is. Not an IP → null
 * (use `isIP` first).
 */
export function nonPublicReason(address: string): string | null {
  const kind = isIP(address.replace(/%.*$/, ""));
  if (kind === 4) return v4Reason(v4ToInt(address));
  if (kind === 6) {
    const groups = parseIPv6(address);
    return groups ? v6Reason(groups) : "an unparseable IPv6 address";
  }
  return null;
}

const defaultLookup = async (host: string): Promise<ResolvedAddress[]> =>
  dnsLookup(host, { all: true, verbatim: true });

/**
 * The URL, normalised (WHATWG parsing: `http://2130706433/` becomes `http://127.0.0.1`; no
 * fragment, no trailing slash), or a VALIDATION_ERROR naming the field and the reason.
 */
export async function assertPublicUrl(raw: string, options: PublicUrlOptions): Promise<string> {
  const field = options.field ?? "api_url";
  if (typeof raw !== "string" || raw.trim() === "") throw refuse(field, "must be an http(s) URL");
  if (raw.length > MAX_URL_LENGTH) throw refuse(field, `must be at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw refuse(field, "is not a valid URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw refuse(field, "must use http or https");
  if (url.username || url.password)
    throw refuse(field, "must not contain a user name or password; give the key as api_key");
  if (!url.hostname) throw refuse(field, "must name a host");

  const path = url.pathname.replace(/\/+$/, "");
  const normalised = `${url.protocol}//${url.host}${path}${url.search}`;
  if (options.allowPrivate) return normalised;

  // Brackets off IPv6 literals; a trailing dot (fully-qualified form) off names.
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname.replace(/\.$/, "");
  if (isIP(host)) {
    const why = nonPublicReason(host);
    if (why) throw refuse(field, `points at ${host}, ${why}; ${ONLY_PUBLIC}`);
    return normalised;
  }
  if (host === "localhost" || host.endsWith(".localhost"))
    throw refuse(field, `points at ${host}, a loopback host; ${ONLY_PUBLIC}`);

  let addresses: ResolvedAddress[];
  try {
    addresses = await (options.lookup ?? defaultLookup)(host);
  } catch {
    throw refuse(field, `host "${host}" does not resolve`);
  }
  if (!Array.isArray(addresses) || addresses.length === 0) throw refuse(field, `host "${host}" does not resolve`);
  for (const { address } of addresses) {
    if (typeof address !== "string" || !isIP(address.replace(/%.*$/, "")))
      throw refuse(field, `host "${host}" resolves to something that is not an IP address`);
    const why = nonPublicReason(address);
    if (why) throw refuse(field, `host "${host}" resolves to ${address}, ${why}; ${ONLY_PUBLIC}`);
  }
  return normalised;
}
