import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * API keys at rest: AES-256-GCM under a server key (PROVIDER_SECRET_KEY, or one generated once
 * and kept under DATA_DIR with mode 0600). Stored as "v1:" + base64url(iv ‖ tag ‖ ciphertext).
 */
export interface SecretBox {
  seal(plain: string): string;
  open(sealed: string): string;
}

export function secretBox(serverKey: string): SecretBox {
  const key = createHash("sha256").update(`inkreel provider keys\0${serverKey}`).digest();
  return {
    seal(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
      return `v1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url")}`;
    },
    open(sealed) {
      if (!sealed.startsWith("v1:")) throw new Error("unknown sealed key format");
      const raw = Buffer.from(sealed.slice(3), "base64url");
      const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8");
    },
  };
}

/** The configured server key, or the one kept under DATA_DIR (created on first use; the first writer wins). */
export async function serverSecret(config: { providerSecret: string | null; dataDir: string }): Promise<string> {
  if (config.providerSecret) return config.providerSecret;
  await mkdir(config.dataDir, { recursive: true });
  const file = join(config.dataDir, ".provider-secret");
  if (!existsSync(file)) {
    await writeFile(file, randomBytes(32).toString("base64url"), { mode: 0o600, flag: "wx" }).catch((err) => {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    });
  }
  return (await readFile(file, "utf8")).trim();
}
