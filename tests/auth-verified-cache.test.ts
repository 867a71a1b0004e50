import { describe, expect, test } from "bun:test";
import { type AccessClaims, rememberVerified } from "../src/auth/tokens.ts";

/** A stand-in signature check that accepts "good-…" tokens with the given expiry, counting its calls. */
function countingVerifier(expS: number) {
  const calls: string[] = [];
  const verify = async (token: string): Promise<AccessClaims> => {
    calls.push(token);
    if (!token.startsWith("good-")) throw new Error("bad signature");
    return { sub: token, exp: expS };
  };
  return { calls, verify };
}

const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

describe("remembered token verifications", () => {
  test("a token is verified once while it is valid; other tokens are verified on their own", async () => {
    const { calls, verify } = countingVerifier(inAnHour());
    const cached = rememberVerified(verify);
    expect((await cached("good-a")).sub).toBe("good-a");
    expect((await cached("good-a")).sub).toBe("good-a");
    expect((await cached("good-b")).sub).toBe("good-b");
    expect(calls).toEqual(["good-a", "good-b"]);
  });

  test("rejections are not remembered", async () => {
    const { calls, verify } = countingVerifier(inAnHour());
    const cached = rememberVerified(verify);
    await expect(cached("forged")).rejects.toThrow("bad signature");
    await expect(cached("forged")).rejects.toThrow("bad signature");
    expect(calls).toEqual(["forged", "forged"]);
  });

  test("a token past its exp is never served from memory", async () => {
    const { calls, verify } = countingVerifier(Math.floor(Date.now() / 1000) - 1);
    const cached = rememberVerified(verify);
    await cached("good-old");
    await cached("good-old");
    expect(calls).toEqual(["good-old", "good-old"]);
  });

  test("the memory is bounded: the least recently used token is verified again", async () => {
    const { calls, verify } = countingVerifier(inAnHour());
    const cached = rememberVerified(verify, 2);
    for (const t of ["good-1", "good-2", "good-3", "good-1"]) await cached(t);
    expect(calls).toEqual(["good-1", "good-2", "good-3", "good-1"]);
  });
});
