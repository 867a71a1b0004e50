// argon2id through Bun's built-in; parameters are Bun's defaults (64 MiB, t=2).
const OPTIONS = { algorithm: "argon2id" } as const;

export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, OPTIONS);
}

let dummyHash: Promise<string> | null = null;

/**
 * Verifies `password` against `hash`. A missing hash is checked against a dummy one, so an
 * unknown username takes as long as a wrong password and timing does not reveal accounts.
 */
export async function verifyPassword(password: string, hash: string | null): Promise<boolean> {
  if (hash === null) {
    dummyHash ??= hashPassword("inkreel-dummy-password");
    await Bun.password.verify(password, await dummyHash);
    return false;
  }
  return Bun.password.verify(password, hash);
}
