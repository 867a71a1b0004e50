import { describe, expect, test } from "bun:test";
import { AppError } from "../src/core/errors.ts";
import {
  assertPublicUrl,
  nonPublicReason,
  type PublicUrlOptions,
  parseIPv6,
  type ResolvedAddress,
} from "../src/net/ssrf.ts";

/** A resolver that knows a few names and fails for the rest (no network in tests). */
const zone: Record<string, ResolvedAddress[]> = {
  "api.example.com": [{ address: "93.184.216.34", family: 4 }],
  "dual.example.com": [
    { address: "2606:2800:220:1:248:1893:25c8:1946", family: 6 },
    { address: "93.184.216.34", family: 4 },
  ],
  "sneaky.example.com": [
    { address: "93.184.216.34", family: 4 },
    { address: "10.1.2.3", family: 4 },
  ],
  "metadata.example.com": [{ address: "169.254.169.254", family: 4 }],
  "v6loop.example.com": [{ address: "::1", family: 6 }],
  "mapped.example.com": [{ address: "::ffff:192.168.1.1", family: 6 }],
  "empty.example.com": [],
};
const lookups: string[] = [];
const lookup = async (host: string) => {
  lookups.push(host);
  const found = zone[host];
  if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
  return found;
};
const strict: PublicUrlOptions = { allowPrivate: false, lookup };

async function refusal(raw: string, options = strict): Promise<AppError> {
  try {
    await assertPublicUrl(raw, options);
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error(`${raw} was accepted`);
}

describe("assertPublicUrl", () => {
  test("public URLs pass, normalised (no trailing slash, no fragment)", async () => {
    expect(await assertPublicUrl("https://api.example.com/v1/", strict)).toBe("https://api.example.com/v1");
    expect(await assertPublicUrl("HTTPS://API.EXAMPLE.COM:8443/v1?x=1#frag", strict)).toBe(
      "https://api.example.com:8443/v1?x=1",
    );
    expect(await assertPublicUrl("http://dual.example.com", strict)).toBe("http://dual.example.com");
    expect(await assertPublicUrl("http://8.8.8.8/v1", strict)).toBe("http://8.8.8.8/v1");
    expect(await assertPublicUrl("http://[2606:4700:4700::1111]/", strict)).toBe("http://[2606:4700:4700::1111]");
    expect(await assertPublicUrl("http://[::ffff:8.8.8.8]/", strict)).toBe("http://[::ffff:808:808]");
  });

  test("refusals are VALIDATION_ERROR naming api_url", async () => {
    const err = await refusal("http://127.0.0.1:8000/v1");
    expect(err.code).toBe("VALIDATION_ERROR");
    expect(err.status).toBe(400);
    expect(err.details.fields).toEqual([{ path: "/api_url", message: expect.stringContaining("loopback") }]);
    expect(err.message).toStartWith("api_url ");
    const other = await refusal("http://10.0.0.5/", { ...strict, field: "base_url" });
    expect((other.details.fields as Array<{ path: string }>)[0]!.path).toBe("/base_url");
  });

  test.each([
    ["ftp://api.example.com/", "http or https"],
    ["file:///etc/passwd", "http or https"],
    ["javascript:alert(1)", "http or https"],
    ["gopher://api.example.com:70/", "http or https"],
    ["not a url", "not a valid URL"],
    ["", "http(s) URL"],
    ["http://user:pw@api.example.com/", "user name or password"],
    ["http://user@api.example.com/", "user name or password"],
    ["http://:pw@api.example.com/", "user name or password"],
    [`https://api.example.com/${"a".repeat(2100)}`, "at most"],
  ])("%s is refused (%s)", async (raw, why) => {
    expect((await refusal(raw)).message).toContain(why);
  });

  test.each([
    ["http://127.0.0.1:8000/v1", "loopback"],
    ["http://127.255.255.254/", "loopback"],
    ["http://localhost/", "loopback"],
    ["http://LOCALHOST./", "loopback"],
    ["http://api.localhost/", "loopback"],
    ["http://0.0.0.0/", "unspecified"],
    ["http://0/", "unspecified"],
    ["http://10.0.0.5/", "private"],
    ["http://172.16.0.1/", "private"],
    ["http://172.31.255.255/", "private"],
    ["http://192.168.1.1/", "private"],
    ["http://169.254.169.254/latest/meta-data/", "link-local"],
    ["http://100.64.0.1/", "carrier-grade NAT"],
    ["http://100.127.255.255/", "carrier-grade NAT"],
    ["http://224.0.0.1/", "multicast"],
    ["http://255.255.255.255/", "broadcast"],
    ["http://[::1]/", "loopback"],
    ["http://[::]/", "unspecified"],
    ["http://[::ffff:127.0.0.1]/", "loopback"],
    ["http://[::ffff:7f00:1]/", "loopback"],
    ["http://[::127.0.0.1]/", "loopback"],
    ["http://[::ffff:169.254.169.254]/", "link-local"],
    ["http://[::ffff:10.0.0.1]/", "private"],
    ["http://[64:ff9b::10.0.0.1]/", "private"],
    ["http://[2002:7f00:1::]/", "loopback"],
    ["http://[::ffff:0:127.0.0.1]/", "loopback"],
    ["http://[::ffff:0:a00:1]/", "private"],
    ["http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "Teredo"],
    ["http://192.0.2.10/", "documentation"],
    ["http://198.51.100.7/", "documentation"],
    ["http://203.0.113.5/", "documentation"],
    ["http://[fc00::1]/", "private"],
    ["http://[fd12:3456::1]/", "private"],
    ["http://[fe80::1]/", "link-local"],
    ["http://[febf::1]/", "link-local"],
    ["http://[ff02::1]/", "multicast"],
    // Spellings WHATWG URL parsing turns into 127.0.0.1 / 169.254.169.254 / 10.0.0.1.
    ["http://2130706433/", "loopback"],
    ["http://0x7f000001/", "loopback"],
    ["http://0177.0.0.1/", "loopback"],
    ["http://0x7f.1/", "loopback"],
    ["http://127.1/", "loopback"],
    ["http://2852039166/", "link-local"],
    ["http://012.0.0.1/", "private"],
    ["http://①②⑦.0.0.1/", "loopback"],
  ])("%s is refused (%s)", async (raw, why) => {
    const err = await refusal(raw);
    expect(err.code).toBe("VALIDATION_ERROR");
    expect(err.message).toContain(why);
  });

  test("a name is judged by every address it resolves to", async () => {
    expect((await refusal("https://sneaky.example.com/v1")).message).toContain("10.1.2.3");
    expect((await refusal("https://metadata.example.com/")).message).toContain("169.254.169.254");
    expect((await refusal("https://v6loop.example.com/")).message).toContain("loopback");
    expect((await refusal("https://mapped.example.com/")).message).toContain("private");
  });

  test("a name that does not resolve is refused", async () => {
    expect((await refusal("https://nowhere.example.com/")).message).toContain("does not resolve");
    expect((await refusal("https://empty.example.com/")).message).toContain("does not resolve");
  });

  test("IP literals are not looked up", async () => {
    lookups.length = 0;
    await assertPublicUrl("http://8.8.8.8/", strict);
    await refusal("http://10.0.0.1/");
    expect(lookups).toEqual([]);
  });

  test("allowPrivate accepts private hosts without resolving them, but still checks scheme and credentials", async () => {
    const lax = { allowPrivate: true, lookup };
    lookups.length = 0;
    expect(await assertPublicUrl("http://127.0.0.1:8000/v1/", lax)).toBe("http://127.0.0.1:8000/v1");
    expect(await assertPublicUrl("http://localhost:11434/v1", lax)).toBe("http://localhost:11434/v1");
    expect(await assertPublicUrl("http://2130706433/", lax)).toBe("http://127.0.0.1");
    expect(await assertPublicUrl("http://ollama.internal/v1", lax)).toBe("http://ollama.internal/v1");
    expect(lookups).toEqual([]);
    expect((await refusal("ftp://127.0.0.1/", lax)).message).toContain("http or https");
    expect((await refusal("http://a:b@127.0.0.1/", lax)).message).toContain("user name or password");
  });
});

describe("address classification", () => {
  test("parseIPv6 expands every spelling", () => {
    expect(parseIPv6("::")).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIPv6("::1")).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(parseIPv6("::ffff:127.0.0.1")).toEqual([0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]);
    expect(parseIPv6("1:2:3:4:5:6:7:8")).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(parseIPv6("fe80::1%eth0")).toEqual([0xfe80, 0, 0, 0, 0, 0, 0, 1]);
    expect(parseIPv6("1.2.3.4")).toBeNull();
  });

  test("public addresses have no reason; others say why", () => {
    for (const ip of ["8.8.8.8", "1.1.1.1", "100.128.0.1", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"])
      expect(nonPublicReason(ip), ip).toBeNull();
    for (const ip of [
      "127.0.0.1",
      "10.1.1.1",
      "::1",
      "::ffff:7f00:1",
      "fe80::1",
      "fd00::1",
      "169.254.169.254",
      "0.1.2.3",
    ])
      expect(nonPublicReason(ip), ip).not.toBeNull();
  });
});
