import { join } from "node:path";
import type { Config } from "../config.ts";
import { createLocalStorage } from "./local.ts";
import { createSupabaseStorage } from "./supabase.ts";
import type { Storage } from "./types.ts";

export interface StorageSetup {
  storage: Storage;
  /** Secret of the local driver's signed links (served by the files module); null otherwise. */
  linkSecret: string | null;
}

/** The storage driver the configuration names. */
export async function createStorage(config: Config, fetchImpl?: typeof fetch): Promise<StorageSetup> {
  if (config.storage.driver === "supabase") {
    // loadConfig guarantees both when the driver is supabase.
    const sb = config.supabase!;
    const storage = createSupabaseStorage({
      url: sb.url,
      serviceKey: sb.serviceRoleKey!,
      bucket: config.storage.bucket,
      fetch: fetchImpl,
    });
    return { storage, linkSecret: null };
  }
  const local = await createLocalStorage({
    root: join(config.dataDir, "files"),
    publicUrl: config.publicUrl,
    signingSecret: config.storage.signingSecret,
  });
  return { storage: local, linkSecret: local.secret };
}

export * from "./types.ts";
