/**
 * Where the prompt a call queued survives a crash (Postgres in production, see pg-store.ts).
 * Keys are fingerprints of the filled workflow and its server: the same call, the same key.
 */
export interface ComfyPromptRef {
  /** The server's base URL. */
  server: string;
  promptId: string;
}

/** The queue job and attempt making the call (null outside the queue). */
export interface ComfyPromptOwner {
  jobId: string | null;
  attempt: number | null;
}

export interface ComfyPromptStore {
  /**
   * The prompt to poll for this key: one reserved or queued and not yet done with, or — for a
   * job's later attempt — one an earlier attempt downloaded before the crash kept its output
   * (ComfyUI's history still has it).
   */
  find(key: string, owner: ComfyPromptOwner): Promise<ComfyPromptRef | null>;
  /** Committed before the prompt is sent: the id we chose for it, under its key. */
  reserve(key: string, ref: ComfyPromptRef, owner: ComfyPromptOwner): Promise<void>;
  /** The server took it (`promptId`: the id it answered, the reserved one unless it is an older ComfyUI). */
  accepted(key: string, reserved: string, promptId: string): Promise<void>;
  /** Done with it: its output downloaded, or dead (refused, failed, cancelled). */
  close(key: string, promptId: string, state: "downloaded" | "dead"): Promise<void>;
}

/** A store in memory: survives nothing, for tests and one-process use. */
export function memoryPromptStore(): ComfyPromptStore & { live: Map<string, ComfyPromptRef> } {
  const live = new Map<string, ComfyPromptRef>();
  return {
    live,
    find: async (key) => live.get(key) ?? null,
    reserve: async (key, ref) => void live.set(key, ref),
    accepted: async (key, _reserved, promptId) => {
      const ref = live.get(key);
      if (ref) live.set(key, { ...ref, promptId });
    },
    close: async (key) => void live.delete(key),
  };
}
