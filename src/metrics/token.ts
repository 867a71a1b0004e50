import { createHash, timingSafeEqual } from "node:crypto";

const digest = (s: string) => createHash("sha256").update(s).digest();

/** True when an Authorization header carries `Bearer <token>`; compared in constant time. */
export function bearerMatches(authorization: string | null | undefined, token: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? "");
  if (!match) return false;
  // Digests are of equal length whatever was sent, as timingSafeEqual requires.
  return timingSafeEqual(digest(match[1]!.trim()), digest(token));
}
