import type { ComfyGraph } from "../../core/comfy-workflow.ts";

/** What a waiting prompt is doing, as reported to the job and to `onProgress`. */
export interface ComfyProgress {
  state: "queued" | "running";
  /** Prompts the server runs before this one (GET /queue). */
  ahead?: number;
  /** The node running, and its step (the `progress` message's value/max). */
  node?: { id: string; classType: string };
  value?: number;
  max?: number;
  /** The share of the workflow's nodes done, 0-100. */
  percent: number;
  message: string;
}

export type ProgressSink = (p: ComfyProgress) => void;

/**
 * Turns ComfyUI's messages into job progress: the queue position while the prompt waits
 * ("queued, 2 prompts ahead"), then the node running and its steps ("KSampler (node 3) step
 * 12/20"), the percent counting the graph's nodes done. Writes go out one at a time, the latest
 * replacing any not yet written, and only when the message changes.
 */
export function progressTracker(
  graph: ComfyGraph,
  write: ((percent: number, message: string) => Promise<void>) | null,
  sink?: ProgressSink,
) {
  const total = Math.max(1, Object.keys(graph).length);
  const done = new Set<string>();
  let current: string | null = null;
  let last = "";
  let inFlight: Promise<void> | null = null;
  let next: [number, string] | null = null;

  const pump = () => {
    if (inFlight || !next || !write) return;
    const [p, m] = next;
    next = null;
    inFlight = write(p, m)
      .catch(() => {})
      .finally(() => {
        inFlight = null;
        pump();
      });
  };
  const emit = (p: ComfyProgress) => {
    if (p.message === last) return;
    last = p.message;
    sink?.(p);
    next = [p.percent, p.message];
    pump();
  };
  const percent = (fraction = 0) => Math.min(99, ((done.size + fraction) / total) * 100);
  const nodeOf = (id: string) => ({ id, classType: graph[id]?.class_type ?? "node" });

  return {
    queued(ahead: number) {
      emit({
        state: "queued",
        ahead,
        percent: 0,
        message:
          ahead === 0
            ? "ComfyUI: queued, next to run"
            : `ComfyUI: queued, ${ahead} prompt${ahead === 1 ? "" : "s"} ahead`,
      });
    },
    running() {
      if (current) return;
      emit({ state: "running", percent: percent(), message: "ComfyUI: running" });
    },
    cached(nodes: string[]) {
      for (const n of nodes) done.add(n);
    },
    executing(id: string) {
      if (current && current !== id) done.add(current);
      current = id;
      const node = nodeOf(id);
      emit({ state: "running", node, percent: percent(), message: `ComfyUI: ${node.classType} (node ${id})` });
    },
    step(id: string, value: number, max: number) {
      if (!Number.isFinite(value) || !Number.isFinite(max) || max <= 0) return;
      if (id && id !== current) this.executing(id);
      const node = nodeOf(current ?? id);
      emit({
        state: "running",
        node,
        value,
        max,
        percent: percent(value / max),
        message: `ComfyUI: ${node.classType} (node ${node.id}) step ${value}/${max}`,
      });
    },
    /** Waits for the last write. */
    async flush() {
      while (inFlight) await inFlight;
    },
  };
}
