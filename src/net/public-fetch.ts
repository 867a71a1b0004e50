import { assertPublicUrl } from "./ssrf.ts";

/**
 * The fetch of providers whose URL an ADMIN typed in (custom endpoints, a built-in's base URL):
 * redirects are refused (a public host must not bounce a request, with our key, inside), and
 * unless private addresses are allowed every URL — API calls and the result files they point to —
 * is checked against the SSRF rules just before it is fetched.
 */
export function publicOnlyFetch(allowPrivate: boolean, base: typeof fetch = fetch): typeof fetch {
  const guarded = async (input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (!allowPrivate) await assertPublicUrl(url, { allowPrivate: false, field: "url" });
    return base(input, { ...init, redirect: "error" });
  };
  return Object.assign(guarded, { preconnect: base.preconnect }) as typeof fetch;
}
