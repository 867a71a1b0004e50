import { join } from "node:path";
import type { Config } from "../config.ts";
import { createLocalStorage } from "./local.ts";
import type { Storage } from "./types.ts";

export interface StorageSetup {
  storage: Storage;
  /** Secret of the local driver's signed links (served by the files module); null otherwise. */
  linkSecret: string | null;
}

/** The storage driver the configuration names. */
export async function createStorage(config: Config): Promise<StorageSetup> {
  const local = await createLocalStorage({
    root: join(config.dataDir, "files"),
    publicUrl: config.publicUrl,
    signingSecret: config.storage.signingSecret,
  });
  return { storage: local, linkSecret: local.secret };
}

export * from "./types.ts";
