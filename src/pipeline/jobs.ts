import type { Capability } from "../core/capabilities.ts";
import { PER_SHOT, type Stage, type StepFailure } from "../core/stages.ts";
import type { Db } from "../db/client.ts";
import { ComposeError } from "../media/compose-error.ts";
import { AiServiceError } from "../providers/ai-error.ts";
import type { Mood } from "../providers/types.ts";
import { enqueue, enqueueMany, type Handler, type JobContext, PermanentJobError } from "../queue/index.ts";
import type { AssetRef } from "../story/material.ts";
import { type PipelineDeps, type StepContext, stepContextFor } from "./context.ts";
import { estimateRegenerations, type RegenerationWhat } from "./estimate.ts";
import { createExport, exportDefaults, failExport, renderExport } from "./export.ts";
import { fundStage, resumeFunded } from "./funding.ts";
import { generateHandlers } from "./generate.ts";
import { loadPackage, loadShot, loadShots, savePackage, saveShot } from "./packages.ts";
import { finishRun, getRun, markRunning, nextStage, type RunRow, updateStage } from "./run-state.ts";
import { ATTEMPTS, PIPELINE_QUEUE, stageJob } from "./stage-job.ts";
import * as analysis from "./steps/analysis.ts";
import type { Guide } from "./steps/guide.ts";
import { music, musicCandidates } from "./steps/music.ts";
import * as shots from "./steps/shots.ts";
import { finishTask, startTask } from "./tasks.ts";

export { PIPELINE_QUEUE, stageJob };

const WHOLE: Partial<Record<Stage, (ctx: StepContext) => Promise<void>>> = {
  storyline: analysis.storyline,
  art_style: analysis.artStyle,
  characters: analysis.characters,
  scenes: analysis.scenes,
  storyboard: analysis.storyboard,
  music,
};

const PER_SHOT_STEP: Partial<Record<Stage, (ctx: StepContext, shotId: string) => Promise<void>>> = {
  keyframes: shots.keyframe,
  voices: shots.voice,
  clips: shots.clip,
};

/** A made asset as a task's result names it. */
const taskAsset = (r: AssetRef) => ({ asset_id: r.asset_id, mime_type: r.mime_type, storage_key: r.storage_key });

/** What each per-shot stage asks a provider for. */
const SHOT_CAPABILITY: Partial<Record<Stage, Capability>> = { keyframes: "image", voices: "speech", clips: "video" };

export interface RegeneratePayload {
  project_id: string;
  package_id: string;
  /** A shot id, a character's name or a scene id. */
  target: string;
  what: RegenerationWhat;
  seed: number;
  user_id: string;
  /** The generation task the creator follows (absent on jobs queued before tasks existed). */
  task_id?: string;
  /** The task whose compute-power charge pays (its batch's parent, or the task itself). */
  subject_id?: string;
  /** How the creator steered it: their prompt, an instruction added to ours, pictures to follow (image assets). */
  prompt?: string;
  user_prompt?: string;
  reference_asset_ids?: string[];
  /** The model the creator chose (`model_id`), instead of the capability's chain. */
  model?: { provider: string; model: string };
  /** Music candidates: their mood (else the story's) and how many. */
  mood?: Mood;
  count?: number;
}

/** What each regeneration asks a provider for (a chosen model pins that capability). */
export const REGENERATE_CAPABILITY: Record<RegeneratePayload["what"], Capability> = {
  keyframe: "image",
  reference: "image",
  scene_image: "image",
  clip: "video",
  voice: "speech",
  music: "music",
};

/** The payload's steering as the steps take it: reference pictures loaded from the project's assets. */
async function guideOf(db: Db, p: RegeneratePayload): Promise<Guide> {
  const ids = p.reference_asset_ids ?? [];
  const references =
    ids.length === 0
      ? []
      : await db
          .selectFrom("assets")
          .select(["id as asset_id", "storage_key", "mime_type", "sha256"])
          .where("id", "in", ids)
          .where("project_id", "=", p.project_id)
          .execute();
  return {
    ...(p.prompt ? { prompt: p.prompt } : {}),
    ...(p.user_prompt ? { userPrompt: p.user_prompt } : {}),
    ...(references.length > 0 ? { references } : {}),
  };
}

/** The job that makes one regeneration (its task id is added by queueTasks). */
export function regenerateJob(payload: Omit<RegeneratePayload, "task_id">) {
  return {
    kind: "pipeline.regenerate",
    queue: PIPELINE_QUEUE,
    payload: { ...payload },
    maxAttempts: ATTEMPTS,
    timeoutMs: 10 * 60_000,
  };
}

/** Makes the new candidate and selects it; what was made from the old one becomes stale. Returns what it made. */
async function regenerate(step: StepContext, p: RegeneratePayload): Promise<AssetRef[]> {
  const { db } = step.deps;
  const shotRef = { packageId: p.package_id, shotId: p.target };
  const guide = await guideOf(db, p);
  if (p.what === "music") {
    const count = p.count ?? 1;
    return musicCandidates(step, { mood: p.mood, prompt: p.prompt, userPrompt: p.user_prompt, seed: p.seed, count });
  }
  if (p.what === "voice") {
    await shots.voice(step, p.target);
    const shot = await loadShot(db, shotRef);
    if (!shot.stale.includes("clip") && (await shots.clipSpeaks(step, shot))) {
      // Its mouths opened with the old recordings.
      await saveShot(db, p.package_id, { ...shot, stale: [...shot.stale, "clip"] });
    }
    return shot.lines.flatMap((l) => (l.audio ? [l.audio] : []));
  }
  if (p.what === "keyframe" || p.what === "clip") {
    await (p.what === "keyframe" ? shots.keyframe : shots.clip)(step, p.target, p.seed, guide);
    const shot = await loadShot(db, shotRef);
    if (p.what === "keyframe" && shot.clip.selected !== null && !shot.stale.includes("clip")) {
      // A video made from the old picture no longer matches it.
      await saveShot(db, p.package_id, { ...shot, stale: [...shot.stale, "clip"] });
    }
    const made = p.what === "keyframe" ? shot.keyframe : shot.clip;
    return made.selected !== null ? [made.candidates[made.selected]!] : [];
  }
  const pkg = await loadPackage(db, p.package_id);
  const art = pkg.art_style?.prompt ?? "";
  if (p.what === "reference") {
    const c = pkg.characters.find((x) => x.name === p.target);
    if (!c) throw new PermanentJobError(`no character "${p.target}"`);
    const ref = await analysis.referenceSheet(step, pkg.art_style, c, p.seed, guide);
    await selectCharacterReference(db, { packageId: p.package_id, character: c.name }, ref);
    return [ref];
  }
  const s = pkg.scenes.find((x) => x.id === p.target);
  if (!s) throw new PermanentJobError(`no scene "${p.target}"`);
  const ref = await analysis.sceneImage(step, art, s, p.seed, guide);
  const scenes = pkg.scenes.map((x) =>
    x.id === s.id
      ? { ...x, image: ref, candidates: [...(x.candidates ?? []).filter((c) => c.asset_id !== ref.asset_id), ref] }
      : x,
  );
  await savePackage(db, p.package_id, { scenes });
  return [ref];
}

/**
 * Gives a character another reference sheet (added to its candidates); every shot the character
 * appears in gets a stale keyframe, since keyframes are painted from the sheets.
 */
export async function selectCharacterReference(
  db: Db,
  { packageId, character: name }: { packageId: string; character: string },
  ref: AssetRef,
) {
  await db.transaction().execute(async (trx) => {
    const pkg = await loadPackage(trx, packageId);
    const characters = pkg.characters.map((x) =>
      x.name === name
        ? {
            ...x,
            reference: ref,
            candidates: [...(x.candidates ?? []).filter((c) => c.asset_id !== ref.asset_id), ref],
          }
        : x,
    );
    await savePackage(trx, packageId, { characters });
    for (const shot of await loadShots(trx, packageId)) {
      if (shot.characters.includes(name) && shot.keyframe.selected !== null && !shot.stale.includes("keyframe"))
        await saveShot(trx, packageId, { ...shot, stale: [...shot.stale, "keyframe"] });
    }
  });
}

async function stepContext(
  deps: PipelineDeps,
  run: RunRow,
  job: JobContext,
  stage: Stage,
  shotId?: string,
): Promise<StepContext> {
  const project = await deps.db
    .selectFrom("projects")
    .selectAll()
    .where("id", "=", run.project_id)
    .executeTakeFirstOrThrow();
  return stepContextFor(
    deps,
    project,
    { packageId: run.package_id!, ownerId: run.created_by },
    job.signal,
    { runId: run.id, stage, shotId, jobId: job.id, attempt: job.attempt },
    (p) => job.progress(p),
  );
}

const active = (run: RunRow | undefined): run is RunRow =>
  !!run && (run.status === "queued" || run.status === "running");

/** What a user is told when a step fails: the reason, never a stack. */
function reason(e: unknown): string {
  if (e instanceof ComposeError) return e.message;
  if (e instanceof Error) return e.message.slice(0, 500);
  return String(e);
}

/** A step's failure as the run records it: a provider's names its provider and model (AI_SERVICE_ERROR). */
function failure(e: unknown, shotId?: string | null): StepFailure {
  const shot = shotId ?? (e instanceof ComposeError ? e.shotId : null) ?? undefined;
  const base = { message: reason(e), ...(shot ? { shot_id: shot } : {}) };
  if (e instanceof AiServiceError)
    return { ...base, code: e.code, provider: e.provider, model: e.model, capability: e.capability };
  return base;
}

/**
 * A stage is done: start the next one, or pause (step mode reached `to_stage`), or finish. The
 * stage is marked completed and the next stage's job enqueued in one transaction under the run's
 * lock, and only once: a redelivered job finds the stage completed and does nothing.
 */
async function advance(db: Db, run: RunRow, stage: Stage) {
  const pause = run.mode === "step" && run.to_stage === stage;
  const done = await updateStage(
    db,
    run.id,
    stage,
    (s) => (s.status === "completed" ? null : { status: "completed", progress: 100 }),
    undefined,
    async (trx, stages) => {
      const next = nextStage(stages, stage);
      if (next && !pause) await enqueue(trx, stageJob(run, next));
    },
  );
  if (!done.applied) return;
  const next = nextStage(done.stages, stage);
  if (!next) await finishRun(db, run.id, "completed");
  else if (pause) await finishRun(db, run.id, "paused");
}

async function failStage(db: Db, run: RunRow, stage: Stage, error: StepFailure) {
  await updateStage(db, run.id, stage, { status: "failed", error });
  await finishRun(db, run.id, "failed", { stage, ...error });
}

/** No second attempt helps: a bad input, or a provider that refused (4xx) rather than failed. */
const isFinal = (e: unknown, ctx: JobContext) =>
  ctx.attempt >= ATTEMPTS ||
  e instanceof PermanentJobError ||
  e instanceof ComposeError ||
  e instanceof RangeError ||
  (e instanceof AiServiceError && !e.retryable);

export function pipelineHandlers(deps: PipelineDeps): Record<string, Handler> {
  const { db } = deps;
  return {
    // Direct generation (POST /generate/*) runs on the pipeline's queue and workers.
    ...generateHandlers(deps),
    "pipeline.resume_funded": async (payload: { account_id: string }) => ({
      resumed: await resumeFunded(db, payload.account_id),
    }),
    "pipeline.stage": async (payload: { run_id: string; stage: Stage }, ctx: JobContext) => {
      const run = await getRun(db, payload.run_id);
      if (!active(run)) return { skipped: "the run is not running" };
      // Conditional: a cancel that committed since the read above must not be turned back into a running run.
      if (!(await markRunning(db, run.id))) return { skipped: "the run is not running" };
      const stage = payload.stage;
      const state = run.stages.find((s) => s.stage === stage)!;
      // Redelivered after its work was recorded (a worker died before the queue heard back).
      if (state.status === "completed" || state.status === "skipped" || state.join_id)
        return { skipped: "already done" };
      // Within what the run was given: the stages left priced again, topped up from the balance, or the run pauses.
      if (!(await fundStage(deps, run, { stage, jobId: ctx.id, attempt: ctx.attempt })))
        return { paused: "compute power ran out" };
      // A cancel marks the stage cancelled (finishRun): then it stays so, and nothing runs.
      const started = await updateStage(db, run.id, stage, (s) =>
        s.status === "cancelled" ? null : { status: "running", progress: 0, error: null },
      );
      if (!started.applied) return { skipped: "the run was stopped" };
      try {
        const step = await stepContext(deps, run, ctx, stage);
        if (PER_SHOT.has(stage)) {
          const list = await loadShots(db, run.package_id!);
          if (list.length === 0) {
            await advance(db, run, stage);
            return { shots: 0 };
          }
          // A cloud provider's shot jobs share its concurrency limit across every worker.
          const head = await deps.providers.head(SHOT_CAPABILITY[stage]!);
          const limit = head.concurrency
            ? { concurrencyKey: `provider:${head.provider}`, concurrencyLimit: head.concurrency }
            : {};
          // Fan out once: the shot jobs, the join and the join's id are recorded together.
          await updateStage(
            db,
            run.id,
            stage,
            (s) => (s.join_id ? null : { done: 0, done_shots: [], total: list.length }),
            undefined,
            async (trx) => {
              const children = await enqueueMany(
                trx,
                list.map((s) => ({
                  kind: "pipeline.shot",
                  queue: PIPELINE_QUEUE,
                  payload: { run_id: run.id, stage, shot_id: s.id },
                  priority: run.priority,
                  maxAttempts: ATTEMPTS,
                  timeoutMs: 10 * 60_000,
                  ...limit,
                })),
              );
              const join = await enqueue(trx, {
                kind: "pipeline.join",
                queue: PIPELINE_QUEUE,
                payload: { run_id: run.id, stage },
                priority: run.priority,
                parents: children.map((c) => c.id),
                onParentFailure: "proceed",
              });
              return { join_id: join.id };
            },
          );
          return { shots: list.length };
        }
        if (stage === "export") {
          // One export per run, even when this job is delivered again.
          const exportId = await db.transaction().execute(async (trx) => {
            const locked = await trx
              .selectFrom("runs")
              .select("export_id")
              .where("id", "=", run.id)
              .forUpdate()
              .executeTakeFirstOrThrow();
            if (locked.export_id) return locked.export_id;
            const id = await createExport(trx, {
              projectId: run.project_id,
              packageId: run.package_id!,
              runId: run.id,
              userId: run.created_by,
              options: exportDefaults(undefined, step.project.options),
            });
            await trx.updateTable("runs").set({ export_id: id }).where("id", "=", run.id).execute();
            return id;
          });
          try {
            await renderExport(deps, exportId, ctx.signal, (p) =>
              updateStage(db, run.id, "export", { progress: p }).then(() => {}),
            );
          } catch (e) {
            if (isFinal(e, ctx) && !ctx.signal.aborted)
              await failExport(db, { exportId, shotId: e instanceof ComposeError ? e.shotId : null }, reason(e));
            throw e;
          }
        } else {
          await WHOLE[stage]!(step);
        }
        await advance(db, run, stage);
        return { stage };
      } catch (e) {
        if (isFinal(e, ctx) && !ctx.signal.aborted) await failStage(db, run, stage, failure(e));
        throw e;
      }
    },

    "pipeline.shot": async (payload: { run_id: string; stage: Stage; shot_id: string }, ctx: JobContext) => {
      const run = await getRun(db, payload.run_id);
      if (!active(run)) return { skipped: "the run is not running" };
      try {
        await PER_SHOT_STEP[payload.stage]!(
          await stepContext(deps, run, ctx, payload.stage, payload.shot_id),
          payload.shot_id,
        );
      } catch (e) {
        if (isFinal(e, ctx) && !ctx.signal.aborted) {
          // The first failing shot is the one the stage reports; the join fails the run.
          await updateStage(db, run.id, payload.stage, (s) => (s.error ? {} : { error: failure(e, payload.shot_id) }));
        }
        throw e;
      }
      // A set of shot ids, not a counter: a shot job that runs twice counts once.
      await updateStage(db, run.id, payload.stage, (s) => {
        if (s.done_shots?.includes(payload.shot_id)) return null;
        const doneShots = [...(s.done_shots ?? []), payload.shot_id];
        return {
          done: doneShots.length,
          done_shots: doneShots,
          progress: Math.floor((doneShots.length / Math.max(1, s.total ?? 1)) * 100),
        };
      });
      return { shot: payload.shot_id };
    },

    "pipeline.join": async (payload: { run_id: string; stage: Stage }) => {
      const run = await getRun(db, payload.run_id);
      if (!active(run)) return { skipped: "the run is not running" };
      const state = run.stages.find((s) => s.stage === payload.stage)!;
      if (state.error || (state.done ?? 0) < (state.total ?? 0)) {
        await failStage(
          db,
          run,
          payload.stage,
          state.error ?? { message: `${(state.total ?? 0) - (state.done ?? 0)} shots did not finish` },
        );
        return { failed: true };
      }
      await advance(db, run, payload.stage);
      return { stage: payload.stage };
    },

    /** A new candidate image or video (another seed), or a clip's lines spoken again: one generation task. */
    "pipeline.regenerate": async (payload: RegeneratePayload, ctx: JobContext) => {
      const project = await db
        .selectFrom("projects")
        .selectAll()
        .where("id", "=", payload.project_id)
        .executeTakeFirst();
      if (!project) return { skipped: "the project is gone" };
      const owner = { packageId: payload.package_id, ownerId: payload.user_id };
      const perShot = payload.what === "keyframe" || payload.what === "clip" || payload.what === "voice";
      const step = await stepContextFor(deps, project, owner, ctx.signal, {
        stage: `regenerate_${payload.what}`,
        shotId: perShot ? payload.target : null,
        jobId: ctx.id,
        attempt: ctx.attempt,
        subjectId: payload.subject_id ?? payload.task_id ?? null,
        ...(payload.model ? { model: { capability: REGENERATE_CAPABILITY[payload.what], ...payload.model } } : {}),
      });
      const taskId = payload.task_id;
      if (taskId) {
        const costEstimateUsd = await estimateRegenerations(db, deps.config.compute, step.providers, {
          packageId: payload.package_id,
          works: [payload],
        }).then(
          (e) => e.usd,
          () => null,
        );
        if (!(await startTask(db, { taskId, costEstimateUsd }))) return { skipped: "the task has ended" };
      }
      try {
        const made = await regenerate(step, payload);
        if (taskId) await finishTask(db, taskId, { result: { assets: made.map(taskAsset) } });
      } catch (e) {
        if (taskId && isFinal(e, ctx) && !ctx.signal.aborted) {
          const f = failure(e);
          await finishTask(db, taskId, { error: { code: f.code ?? "GENERATION_FAILED", message: f.message } });
        }
        throw e;
      }
      return { target: payload.target, what: payload.what };
    },

    "pipeline.export": async (payload: { export_id: string }, ctx: JobContext) => {
      try {
        const { files } = await renderExport(deps, payload.export_id, ctx.signal, (p) => ctx.progress(p));
        return { files: files.length };
      } catch (e) {
        if (isFinal(e, ctx) && !ctx.signal.aborted)
          await failExport(
            db,
            { exportId: payload.export_id, shotId: e instanceof ComposeError ? e.shotId : null },
            reason(e),
          );
        throw e;
      }
    },
  };
}
