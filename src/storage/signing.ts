import { createHmac, timingSafeEqual } from "node:crypto";

/** The signature of a download link: HMAC-SHA256 over the key, the expiry and the download name. */
export function signature(secret: string, key: string, expires: number, downloadName = ""): string {
  return createHmac("sha256", secret).update(`${key}\n${expires}\n${downloadName}`).digest("base64url");
}

export type LinkCheck = "ok" | "expired" | "invalid";

/** Checks a presented link in constant time; expired links are refused even when well signed. */
export function checkLink(
  secret: string,
  key: string,
  expires: string | null,
  sig: string | null,
  downloadName = "",
  now = Date.now(),
): LinkCheck {
  if (!expires || !sig || !/^\d{1,12}$/.test(expires)) return "invalid";
  const expected = Buffer.from(signature(secret, key, Number(expires), downloadName));
  const given = Buffer.from(sig);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return "invalid";
  return Number(expires) * 1000 < now ? "expired" : "ok";
}
