import { join } from "node:path";
import { type Selectable, sql } from "kysely";
import type { Capability } from "../core/capabilities.ts";
import {
  type GenerationError,
  type GenerationParams,
  type GenerationResult,
  isVideoKind,
  type MadeFile,
} from "../core/generation.ts";
import type { Db } from "../db/client.ts";
import type { GenerationsTable } from "../db/types.ts";
import { runFfmpeg, withTempDir } from "../media/ffmpeg.ts";
import { makeThumbnail } from "../media/thumbnail.ts";
import { AiServiceError, isProviderFailure } from "../providers/ai-error.ts";
import { closeChargesOf } from "../providers/compute-ledger.ts";
import { detectLanguage } from "../providers/local/analyser/language.ts";
import { hintOfPrompt } from "../providers/local/prompt-hint.ts";
import type { Providers } from "../providers/registry.ts";
import type { ImageOutput, VideoOutput } from "../providers/types.ts";
import { type EnqueueInput, type Handler, type JobContext, PermanentJobError } from "../queue/index.ts";
import type { Storage } from "../storage/types.ts";
import { acceptsAnyVoice } from "../voices/library.ts";
import type { PipelineDeps } from "./context.ts";
import { LOGGED_COLUMNS, logGeneration } from "./generation-events.ts";
import { ATTEMPTS, PIPELINE_QUEUE } from "./stage-job.ts";

export const GENERATE_JOB = "generate.run";

type GenerationRow = Selectable<GenerationsTable>;

/** What the capability of each kind's main model is (a story video also speaks, and paints when given no picture). */
export const GENERATION_CAPABILITY = {
  text_to_image: "image",
  image_to_image: "image",
  text_to_video: "video",
  image_to_video: "video",
  story_video: "video",
} as const satisfies Record<GenerationRow["kind"], Capability>;

/** The job that makes one generation. */
export function generateJob(generationId: string): EnqueueInput {
  return {
    kind: GENERATE_JOB,
    queue: PIPELINE_QUEUE,
    payload: { generation_id: generationId },
    maxAttempts: ATTEMPTS,
    timeoutMs: 30 * 60_000,
  };
}

/** Narration of a story video: the prompt's opening, at most this many characters. */
const NARRATION_CHARS = { zh: 200, en: 400 } as const;

// ---- rows ----------------------------------------------------------------------------------

/**
 * The worker took the job: processing, told to the owner as `task_progress` (each attempt's start,
 * so a retry shows as well). Null when the generation already ended (nothing to do).
 */
async function startGeneration(db: Db, id: string): Promise<GenerationRow | null> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable("generations")
      .set({
        status: "processing",
        progress: sql<number>`greatest(progress, 5)`,
        started_at: sql<Date>`coalesce(started_at, now())`,
      })
      .where("id", "=", id)
      .where("status", "in", ["pending", "processing"])
      .returningAll()
      .executeTakeFirst();
    if (row) await logGeneration(trx, "task_progress", row);
    return row ?? null;
  });
}

/** Progress only moves forward; each step forward is a `task_progress` event, a step back or a repeat none. */
async function setProgress(db: Db, id: string, progress: number) {
  const to = Math.round(progress);
  await db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable("generations")
      .set({ progress: to })
      .where("id", "=", id)
      .where("status", "=", "processing")
      .where("progress", "<", to)
      .returning(LOGGED_COLUMNS)
      .executeTakeFirst();
    if (row) await logGeneration(trx, "task_progress", row);
  });
}

/** The generation's works take what it made, in the transaction that ends it. */
async function completeWorks(trx: Db, generationId: string, files: MadeFile[]) {
  for (const [position, f] of files.entries()) {
    await trx
      .updateTable("works")
      .set({
        status: "completed",
        file_key: f.storage_key,
        thumbnail_key: f.thumbnail_key,
        mime_type: f.mime_type,
        size: f.size,
        width: f.width,
        height: f.height,
        duration_s: f.duration_s ?? null,
      })
      .where("generation_id", "=", generationId)
      .where("position", "=", position)
      .execute();
  }
  // Pictures asked for and not made (a provider that made fewer) leave no empty works behind.
  await trx
    .deleteFrom("works")
    .where("generation_id", "=", generationId)
    .where("position", ">=", files.length)
    .execute();
}

/**
 * The generation ended: what it made (its works complete), or why it failed (its works fail);
 * `task_complete` or `task_failed` is logged in the same transaction, naming its works.
 */
export async function finishGeneration(
  db: Db,
  id: string,
  outcome: { result: GenerationResult } | { error: GenerationError },
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const done = "result" in outcome;
    const row = await trx
      .updateTable("generations")
      .set({
        status: done ? "completed" : "failed",
        progress: done ? 100 : sql<number>`progress`,
        result: done ? JSON.stringify(outcome.result) : null,
        error: done ? null : JSON.stringify(outcome.error),
        finished_at: new Date(),
      })
      .where("id", "=", id)
      .where("status", "in", ["pending", "processing"])
      .returning(LOGGED_COLUMNS)
      .executeTakeFirst();
    if (!row) return false;
    if (done) {
      const r = outcome.result;
      await completeWorks(trx, id, r.video ? [r.video] : (r.images ?? []));
    } else {
      await trx.updateTable("works").set({ status: "failed" }).where("generation_id", "=", id).execute();
    }
    const works = await trx
      .selectFrom("works")
      .select("id")
      .where("generation_id", "=", id)
      .orderBy("position")
      .execute();
    const work_ids = works.map((w) => w.id);
    await logGeneration(
      trx,
      done ? "task_complete" : "task_failed",
      row,
      "result" in outcome ? { work_ids } : { work_ids, message: outcome.error.message, error: outcome.error },
    );
    // What the generation reserved and did not use goes back with its end.
    await closeChargesOf(trx, id, done ? "release" : "refund");
    return true;
  });
}

// ---- making --------------------------------------------------------------------------------

interface Making {
  g: GenerationRow;
  providers: Providers;
  storage: Storage;
  db: Db;
  signal: AbortSignal;
}

const EXT: Record<string, string> = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/webp": "webp",
  "video/mp4": "mp4",
};

/** Where a generation's files live: one folder per generation, under its owner. */
const fileKey = (g: GenerationRow, name: string) => `generations/${g.user_id}/${g.id}/${name}`;

/** The prompt as a model reads it: the style and what to avoid said in words. */
function fullPrompt(p: GenerationParams): string {
  const parts = [p.prompt.trim()];
  if (p.style) parts.push(`Style: ${p.style}.`);
  if (p.negative_prompt) parts.push(`Avoid: ${p.negative_prompt}.`);
  return parts.join("\n");
}

/** Stores one made file and its thumbnail. */
async function store(
  m: Making,
  name: string,
  out: { bytes: Uint8Array; mimeType: string; width: number; height: number; durationS?: number },
): Promise<MadeFile> {
  const key = fileKey(m.g, `${name}.${EXT[out.mimeType] ?? "bin"}`);
  const thumbKey = fileKey(m.g, `${name}.thumb.jpg`);
  await withTempDir(async (dir) => {
    const path = join(dir, `file.${EXT[out.mimeType] ?? "bin"}`);
    const thumb = join(dir, "thumb.jpg");
    await Bun.write(path, out.bytes);
    await makeThumbnail(path, thumb, m.signal);
    await m.storage.put(key, { path }, { contentType: out.mimeType });
    await m.storage.put(thumbKey, { path: thumb }, { contentType: "image/jpeg" });
  });
  return {
    storage_key: key,
    thumbnail_key: thumbKey,
    mime_type: out.mimeType,
    size: out.bytes.byteLength,
    width: out.width,
    height: out.height,
    ...(out.durationS !== undefined ? { duration_s: Math.round(out.durationS * 1000) / 1000 } : {}),
  };
}

async function sourceImage(m: Making): Promise<{ bytes: Uint8Array; mimeType: string } | undefined> {
  const src = m.g.params.image;
  if (!src) return undefined;
  try {
    return { bytes: await m.storage.get(src.storage_key), mimeType: src.mime_type };
  } catch {
    throw new PermanentJobError("the picture to start from is no longer stored");
  }
}

/**
 * The local painter does not read a picture it is given; image-to-image on it lays the painting
 * over the source picture at `strength` (0 keeps the source, 1 is the painting), so the result
 * really depends on both. Cloud models take the source as their reference instead.
 */
async function blendOver(
  source: { bytes: Uint8Array },
  painted: ImageOutput,
  strength: number,
  signal: AbortSignal,
): Promise<ImageOutput> {
  return withTempDir(async (dir) => {
    const [a, b, out] = [join(dir, "source"), join(dir, "painted.png"), join(dir, "out.png")];
    await Bun.write(a, source.bytes);
    await Bun.write(b, painted.bytes);
    const { width: w, height: h } = painted;
    await runFfmpeg(
      [
        ...["-i", a, "-i", b, "-filter_complex"],
        `[0:v]scale=${w}:${h}:force_original_aspect_ratio=increase,crop=${w}:${h},format=rgba[s];` +
          `[1:v]format=rgba,colorchannelmixer=aa=${strength.toFixed(3)}[p];[s][p]overlay=format=auto,format=rgb24[o]`,
        ...["-map", "[o]", "-frames:v", "1", "-y", out],
      ],
      { timeoutMs: 60_000, signal },
    );
    return { ...painted, bytes: new Uint8Array(await Bun.file(out).arrayBuffer()), mimeType: "image/png" };
  });
}

async function makeImages(m: Making, warnings: string[]): Promise<MadeFile[]> {
  const p = m.g.params;
  const source = await sourceImage(m);
  const n = p.num_images ?? 1;
  const made: MadeFile[] = [];
  for (let i = 0; i < n; i++) {
    const r = await m.providers.image.generate({
      prompt: fullPrompt(p),
      width: p.width,
      height: p.height,
      seed: p.seed + i,
      scene: hintOfPrompt(p.prompt),
      ...(source && m.providers.image.provider !== "local" ? { references: [{ ...source, label: "source" }] } : {}),
      signal: m.signal,
    });
    if (i === 0) warnings.push(...r.warnings);
    const out =
      source && r.response.provider === "local" ? await blendOver(source, r.data, p.strength ?? 0.8, m.signal) : r.data;
    made.push(await store(m, `image-${i + 1}`, out));
    await setProgress(m.db, m.g.id, 10 + (80 * (i + 1)) / n);
  }
  return made;
}

async function makeClip(
  m: Making,
  image: { bytes: Uint8Array; mimeType: string } | undefined,
  durationS: number,
  warnings: string[],
): Promise<VideoOutput> {
  const p = m.g.params;
  const r = await m.providers.video.generate({
    prompt: fullPrompt(p),
    ...(image ? { image } : {}),
    durationS,
    width: p.width,
    height: p.height,
    ...(p.fps ? { fps: p.fps } : {}),
    seed: p.seed,
    scene: hintOfPrompt(p.prompt),
    signal: m.signal,
  });
  warnings.push(...r.warnings);
  return r.data;
}

/** The narrator's voice: any name on an open-voice provider, else the library's first voice of the language. */
async function narratorVoice(m: Making, language: "zh" | "en"): Promise<string> {
  const speech = m.providers.speech;
  if (acceptsAnyVoice(speech.provider)) return "narrator";
  try {
    const voices = await speech.voices(m.signal);
    const v = voices.find((x) => x.language === language) ?? voices[0];
    if (v) return v.voice_id;
  } catch (e) {
    if (m.signal.aborted || !isProviderFailure(e)) throw e;
    throw new AiServiceError("speech", speech.provider, "voices", { userId: m.g.user_id, stage: "generate" }, e);
  }
  throw new PermanentJobError(`the speech provider ${speech.provider} lists no voices to narrate with`);
}

/**
 * Seed 002's videogen workflow: a picture (the one given, or painted from the prompt), moved into
 * a clip as long as its narration, with the prompt's opening spoken over it.
 */
async function makeStoryVideo(m: Making, warnings: string[]): Promise<MadeFile> {
  const p = m.g.params;
  const language = detectLanguage(p.prompt);
  const narration = [...p.prompt.trim()].slice(0, NARRATION_CHARS[language]).join("");
  let image = await sourceImage(m);
  if (!image) {
    const r = await m.providers.image.generate({
      prompt: fullPrompt(p),
      width: p.width,
      height: p.height,
      seed: p.seed,
      scene: hintOfPrompt(p.prompt),
      signal: m.signal,
    });
    image = { bytes: r.data.bytes, mimeType: r.data.mimeType };
  }
  await setProgress(m.db, m.g.id, 25);
  const voice = await narratorVoice(m, language);
  const speech = await m.providers.speech.generate({ text: narration, language, voice, signal: m.signal });
  await setProgress(m.db, m.g.id, 40);
  const length = Math.max(p.duration_s ?? 5, speech.data.durationS + 0.5);
  const clip = await makeClip(m, image, length, warnings);
  await setProgress(m.db, m.g.id, 80);
  const video = await withTempDir(async (dir) => {
    const [v, a, out] = [
      join(dir, "clip.mp4"),
      join(dir, `speech.${speech.data.mimeType === "audio/mpeg" ? "mp3" : "wav"}`),
      join(dir, "story.mp4"),
    ];
    await Bun.write(v, clip.bytes);
    await Bun.write(a, speech.data.bytes);
    // A clip shorter than the narration (a cloud model's fixed lengths) holds its last frame.
    const hold = Math.max(0, length - clip.durationS);
    await runFfmpeg(
      [
        ...["-i", v, "-i", a, "-filter_complex"],
        `[0:v]tpad=stop_mode=clone:stop_duration=${hold.toFixed(3)},format=yuv420p[v];[1:a]apad[a]`,
        ...["-map", "[v]", "-map", "[a]", "-t", length.toFixed(3)],
        ...["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-c:a", "aac", "-b:a", "128k"],
        ...["-movflags", "+faststart", "-y", out],
      ],
      { timeoutMs: 10 * 60_000, signal: m.signal, durationS: length },
    );
    return new Uint8Array(await Bun.file(out).arrayBuffer());
  });
  return store(m, "video", {
    bytes: video,
    mimeType: "video/mp4",
    width: clip.width,
    height: clip.height,
    durationS: length,
  });
}

async function make(m: Making): Promise<GenerationResult> {
  const warnings: string[] = [];
  const p = m.g.params;
  if (m.g.kind === "story_video") return { video: await makeStoryVideo(m, warnings), warnings };
  if (!isVideoKind(m.g.kind)) return { images: await makeImages(m, warnings), warnings };
  const clip = await makeClip(m, await sourceImage(m), p.duration_s ?? 5, warnings);
  await setProgress(m.db, m.g.id, 85);
  return { video: await store(m, "video", clip), warnings };
}

// ---- the job -------------------------------------------------------------------------------

/** The last attempt, or an error no retry mends (as the pipeline's jobs decide it). */
const isFinal = (ctx: JobContext, e: unknown) =>
  ctx.attempt >= ATTEMPTS ||
  e instanceof PermanentJobError ||
  e instanceof RangeError ||
  ((e instanceof AiServiceError || isProviderFailure(e)) && !e.retryable);

function errorOf(e: unknown): GenerationError {
  if (e instanceof AiServiceError || isProviderFailure(e))
    return { code: "AI_SERVICE_ERROR", message: (e as Error).message.slice(0, 500) };
  return { code: "GENERATION_FAILED", message: (e instanceof Error ? e.message : String(e)).slice(0, 500) };
}

export function generateHandlers(deps: PipelineDeps): Record<string, Handler> {
  const { db, storage } = deps;
  return {
    [GENERATE_JOB]: async (payload: { generation_id: string }, ctx: JobContext) => {
      const g = await startGeneration(db, payload.generation_id);
      if (!g) return { skipped: "the generation has ended" };
      const capability = GENERATION_CAPABILITY[g.kind];
      const providers = await deps.providers.forScope(
        { userId: g.user_id, subjectId: g.id, stage: `generate_${g.kind}`, jobId: ctx.id, attempt: ctx.attempt },
        g.model ? { capability, provider: g.provider, model: g.provider_model } : undefined,
      );
      try {
        const result = await make({ g, providers, storage, db, signal: ctx.signal });
        await finishGeneration(db, g.id, { result });
        return { made: result.video ? 1 : (result.images?.length ?? 0) };
      } catch (e) {
        if (isFinal(ctx, e) && !ctx.signal.aborted) await finishGeneration(db, g.id, { error: errorOf(e) });
        throw e;
      }
    },
  };
}
