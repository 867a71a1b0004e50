import type { Db } from "../db/client.ts";
import type { Logger } from "../log.ts";
import { heartbeatJobs, reportProgress } from "./finish.ts";
import type { ClaimedJob, JobContext } from "./types.ts";

/** One attempt of a job inside a worker: what it runs, and whether and why it was aborted. */
export interface Running {
  job: ClaimedJob;
  /** Why the attempt was aborted, if it was. */
  aborted: AbortReason | null;
  /** Created when the handler first reads ctx.signal: most short jobs never do. */
  controller: AbortController | null;
  cancelRequested: boolean;
  done: Promise<void>;
}

/** Why a handler's signal fired. */
export type AbortReason = "cancelled" | "timeout" | "lease-lost" | "shutdown";

export function abort(entry: Running, reason: AbortReason) {
  if (entry.aborted) return;
  entry.aborted = reason;
  entry.controller?.abort(reason);
}

export interface ContextShared {
  db: Db;
  log: Logger;
  leaseMs: number;
}

/** What a handler gets; a class so that a short job costs one small allocation. */
export class Context implements JobContext {
  private childLog: Logger | null = null;
  constructor(
    private readonly shared: ContextShared,
    private readonly job: ClaimedJob,
    private readonly entry: Running,
  ) {}
  get id() {
    return this.job.id;
  }
  get kind() {
    return this.job.kind;
  }
  get attempt() {
    return this.job.attempt;
  }
  get signal(): AbortSignal {
    const entry = this.entry;
    if (!entry.controller) {
      entry.controller = new AbortController();
      if (entry.aborted) entry.controller.abort(entry.aborted);
    }
    return entry.controller.signal;
  }
  get log(): Logger {
    this.childLog ??= this.shared.log.child({ job_id: this.job.id, kind: this.job.kind, attempt: this.job.attempt });
    return this.childLog;
  }
  progress(percent: number, message?: string) {
    return reportProgress(this.shared.db, { id: this.job.id, token: this.job.lease_token }, percent, message);
  }
  async heartbeat() {
    const held = await heartbeatJobs(
      this.shared.db,
      [{ id: this.job.id, token: this.job.lease_token }],
      this.shared.leaseMs,
    );
    if (!held.has(this.job.id)) abort(this.entry, "lease-lost");
  }
}
