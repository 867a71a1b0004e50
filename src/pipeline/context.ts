import type { Config } from "../config.ts";
import type { ProjectOptions } from "../core/project-options.ts";
import type { Db } from "../db/client.ts";
import type { Logger } from "../log.ts";
import type { InspectCache } from "../media/inspect.ts";
import type { SpanRecorder } from "../metrics/spans.ts";
import type { ModelPin, ProviderResolver, Providers } from "../providers/registry.ts";
import type { Storage } from "../storage/types.ts";
import type { AssetOwner } from "./assets.ts";

/** What pipeline jobs need, built once per worker process. */
export interface PipelineDeps {
  config: Config;
  db: Db;
  storage: Storage;
  /** Each step gets its models from here, bound to the step's scope (see registry.ts). */
  providers: ProviderResolver;
  log: Logger;
  /** Times ffmpeg runs (the pipeline benchmark's recorder, else `noSpans`). */
  spans: SpanRecorder;
  /** The composer's inputs already inspected by this process (bounded by MEDIA_INSPECT_CACHE_ENTRIES). */
  inspected: InspectCache;
}

/** One stage (or one shot of it) at work: its project and package, and the job's signal. */
export interface StepContext {
  deps: PipelineDeps;
  /** The models this step calls, each running its capability's chain and writing the cost ledger. */
  providers: Providers;
  project: {
    id: string;
    space_id: string;
    owner_id: string | null;
    input_text: string;
    input_type: string;
    options: ProjectOptions;
    name: string;
  };
  packageId: string;
  owner: AssetOwner;
  signal: AbortSignal;
  progress(percent: number): Promise<void>;
}

/** Pictures are made at 720p in the project's aspect ratio; exports scale them. */
export function pictureSize(options: ProjectOptions): { width: number; height: number } {
  switch (options.aspect_ratio ?? "16:9") {
    case "9:16":
      return { width: 720, height: 1280 };
    case "4:3":
      return { width: 960, height: 720 };
    case "3:4":
      return { width: 720, height: 960 };
    case "1:1":
      return { width: 720, height: 720 };
    case "2.35:1":
      return { width: 1692, height: 720 };
    default:
      return { width: 1280, height: 720 };
  }
}

type ProjectRow = {
  id: string;
  space_id: string;
  owner_id: string | null;
  input_text: string;
  input_type: string;
  options: ProjectOptions;
  name: string;
};

/** Which run, stage and shot a step works for: it goes with every provider call into the ledger. */
export interface StepWhere {
  runId?: string | null;
  stage?: string | null;
  shotId?: string | null;
  jobId?: string | null;
  attempt?: number | null;
  /** Whose compute-power charge pays for the step's calls, when not the run's (a task, a standalone export). */
  subjectId?: string | null;
  /** The model the creator chose for this step (`model_id`), instead of the capability's chain. */
  model?: ModelPin;
}

export async function stepContextFor(
  deps: PipelineDeps,
  project: ProjectRow,
  { packageId, ownerId }: { packageId: string; ownerId: string | null },
  signal: AbortSignal,
  where: StepWhere = {},
  progress: (p: number) => Promise<void> = async () => {},
): Promise<StepContext> {
  const scope = {
    userId: ownerId,
    spaceId: project.space_id,
    projectId: project.id,
    runId: where.runId ?? null,
    stage: where.stage ?? null,
    shotId: where.shotId ?? null,
    jobId: where.jobId ?? null,
    attempt: where.attempt ?? null,
    subjectId: where.subjectId ?? null,
  };
  return {
    deps,
    providers: await deps.providers.forScope(scope, where.model),
    project,
    packageId,
    owner: { spaceId: project.space_id, projectId: project.id, packageId, ownerId },
    signal,
    progress,
  };
}
