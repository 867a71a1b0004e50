import type { Config } from "../../config.ts";
import { AppError, conflict, notFound, validation } from "../../core/errors.ts";
import type { Fps } from "../../core/project-options.ts";
import type { Db } from "../../db/client.ts";
import { REGENERATE_CAPABILITY, regenerateJob } from "../../pipeline/jobs.ts";
import { loadPackage, loadShots, replaceShots, saveShot } from "../../pipeline/packages.ts";
import { queueTasks } from "../../pipeline/tasks.ts";
import type { ProviderResolver } from "../../providers/registry.ts";
import { tasksPayer } from "../../services/compute.ts";
import { requireProject } from "../../services/project-access.ts";
import { freshSeed, type Steer, steering } from "../../services/steering.ts";
import { limitRequest } from "../../services/usage-limits.ts";
import type { Storage } from "../../storage/types.ts";
import type { EditConfig, FilterName } from "../../story/edit.ts";
import { lineLayout, type ShotMaterial, selected } from "../../story/material.ts";
import type { Transition } from "../../story/schemas.ts";
import { estimateSpeechS } from "../../story/timing.ts";
import { requireVoice } from "../../voices/library.ts";

/** The active package of a project the user may edit (or view), refusing edits while a run writes it. */
export async function activePackage(db: Db, ids: { userId: string; projectId: string }, role: "viewer" | "editor") {
  const project = await requireProject(db, ids, role);
  if (!project.active_package_id) throw conflict("the project has no material package yet: run the pipeline first");
  if (role === "editor") {
    const busy = await db
      .selectFrom("runs")
      .select("id")
      .where("package_id", "=", project.active_package_id)
      .where("status", "in", ["queued", "running"])
      .executeTakeFirst();
    if (busy) throw conflict("a run is writing this package; wait for it or cancel it", { run_id: busy.id });
  }
  return { project, packageId: project.active_package_id };
}

/** How long a transition into a shot lasts unless the creator set it (media/segments.ts uses the same). */
const DEFAULT_TRANSITION_S = 0.5;

/** A clip's edit config in the shape `PUT edit-config` takes (crop_x … filter_intensity). */
export function editConfigView(edit: EditConfig | null) {
  return {
    crop_x: edit?.crop?.x ?? null,
    crop_y: edit?.crop?.y ?? null,
    crop_width: edit?.crop?.w ?? null,
    crop_height: edit?.crop?.h ?? null,
    zoom_level: edit?.zoom ?? 1,
    pan_x: edit?.pan?.x ?? 0,
    pan_y: edit?.pan?.y ?? 0,
    rotation: edit?.rotation ?? 0,
    filter_type: edit?.filter?.name ?? ("none" as const),
    filter_intensity: edit?.filter?.intensity ?? 1,
  };
}

export function toClip(shot: ShotMaterial, index: number, startS: number) {
  const image = selected(shot.keyframe);
  const video = selected(shot.clip);
  const { offsets } = lineLayout(shot);
  return {
    id: shot.id,
    shot_number: index + 1,
    clip_type: video ? ("video" as const) : ("image" as const),
    duration: shot.durationS,
    start_time: Number(startS.toFixed(3)),
    end_time: Number((startS + shot.durationS).toFixed(3)),
    description: shot.description,
    camera: shot.camera,
    transition: shot.transition,
    transition_duration: shot.transitionS ?? DEFAULT_TRANSITION_S,
    selected_image_id: image?.asset_id ?? null,
    selected_video_id: video?.asset_id ?? null,
    image_candidates: shot.keyframe.candidates.length,
    video_candidates: shot.clip.candidates.length,
    lines: shot.lines.map((l, i) => ({
      id: l.id,
      kind: l.kind,
      speaker: l.speaker,
      text: l.text,
      voice_id: l.voice.voice_id,
      speech_speed: l.voice.speed,
      volume: l.volume,
      offset_s: Number(offsets[i]!.toFixed(3)),
      duration_s: l.audio?.duration_s ?? null,
      audio_id: l.audio?.asset_id ?? null,
      is_custom_audio: l.custom_audio === true,
    })),
    config: editConfigView(shot.edit),
    stale: shot.stale,
  };
}

/** The package of one of the project's episodes (its latest run's); 404 for another project's episode. */
async function episodePackage(db: Db, { projectId, episodeId }: { projectId: string; episodeId: string }) {
  const episode = await db
    .selectFrom("episodes")
    .select("current_package_id")
    .where("id", "=", episodeId)
    .where("project_id", "=", projectId)
    .executeTakeFirst();
  if (!episode) throw notFound("episode");
  if (!episode.current_package_id)
    throw conflict("the episode has not been rendered yet: POST /projects/:id/episodes/runs first");
  return episode.current_package_id;
}

/** The timeline of the project's active package, or (with `episodeId`) of that episode's own package. */
export async function getTimeline(db: Db, ids: { userId: string; projectId: string; episodeId?: string }) {
  const active = ids.episodeId
    ? { project: await requireProject(db, ids, "viewer"), packageId: null }
    : await activePackage(db, ids, "viewer");
  const project = active.project;
  const packageId =
    active.packageId ?? (await episodePackage(db, { projectId: ids.projectId, episodeId: ids.episodeId! }));
  const shots = await loadShots(db, packageId);
  const pkg = await loadPackage(db, packageId);
  let at = 0;
  const clips = shots.map((s, i) => {
    const clip = toClip(s, i, at);
    at += s.durationS;
    return clip;
  });
  return {
    project_id: project.id,
    package_id: packageId,
    total_duration: Number(at.toFixed(3)),
    video_aspect_ratio: project.options.aspect_ratio ?? "16:9",
    fps: project.options.fps ?? 24,
    clips,
    bgm: pkg.music
      ? {
          mood: pkg.music.mood,
          volume: pkg.music.volume,
          loop: pkg.music.loop,
          fade_in_s: pkg.music.fade_in_s,
          fade_out_s: pkg.music.fade_out_s,
          asset_id: pkg.music.asset?.asset_id ?? null,
          candidates: pkg.music.candidates?.length ?? 0,
        }
      : null,
  };
}

async function editShot(
  db: Db,
  { userId, projectId, clipId }: { userId: string; projectId: string; clipId: string },
  change: (s: ShotMaterial) => ShotMaterial,
) {
  const { packageId } = await activePackage(db, { userId, projectId }, "editor");
  const shots = await loadShots(db, packageId);
  const index = shots.findIndex((s) => s.id === clipId);
  if (index < 0) throw notFound("clip");
  const next = change(shots[index]!);
  await saveShot(db, packageId, next);
  const startS = shots.slice(0, index).reduce((s, x) => s + x.durationS, 0);
  return toClip(next, index, startS);
}

const mark = (s: ShotMaterial, ...what: ShotMaterial["stale"]) => [...new Set([...s.stale, ...what])];

export function setDuration(db: Db, ids: { userId: string; projectId: string; clipId: string }, duration: number) {
  return editShot(db, ids, (s) => {
    const { spokenS } = lineLayout(s);
    if (duration + 0.05 < spokenS)
      throw validation(
        [{ path: "/duration", message: `the shot's lines need ${spokenS.toFixed(1)} s` }],
        "the shot is shorter than its narration and dialogue",
      );
    // A clip is made for a length: a new length makes it out of date.
    return { ...s, durationS: duration, stale: s.clip.selected !== null ? mark(s, "clip") : s.stale };
  });
}

/** The transition into a clip and how long it lasts (at most the clip's length, and 3 s). */
export function setTransition(
  db: Db,
  ids: { userId: string; projectId: string; clipId: string },
  t: { transition: Transition; duration?: number },
) {
  return editShot(db, ids, (s) => {
    const transitionS = t.duration ?? s.transitionS ?? DEFAULT_TRANSITION_S;
    if (transitionS > s.durationS)
      throw validation(
        [{ path: "/duration", message: `the clip lasts ${s.durationS} s` }],
        "the transition is longer than the clip",
      );
    return { ...s, transition: t.transition, transitionS };
  });
}

/** The timeline's frame rate: every export uses it unless it asks for another. */
export async function setFps(db: Db, ids: { userId: string; projectId: string }, fps: Fps) {
  const { project } = await activePackage(db, ids, "editor");
  await db
    .updateTable("projects")
    .set({ options: JSON.stringify({ ...project.options, fps }), updated_at: new Date() })
    .where("id", "=", project.id)
    .execute();
  return getTimeline(db, ids);
}

export interface LineEdit {
  text_content: string;
  voice_id?: string;
  speech_speed?: number;
  volume?: number;
}

/** A narration or dialogue line rewritten: its audio is out of date until the next export regenerates it. */
export async function editLine(
  db: Db,
  { userId, projectId, clipId }: { userId: string; projectId: string; clipId: string },
  find: (s: ShotMaterial) => number,
  edit: LineEdit,
) {
  if (edit.voice_id) {
    // A new voice must be in the library of the line's speech provider (when that library is known).
    const { packageId } = await activePackage(db, { userId, projectId }, "viewer");
    const shot = (await loadShots(db, packageId)).find((s) => s.id === clipId);
    const line = shot?.lines[find(shot)];
    if (line && line.voice.voice_id !== edit.voice_id)
      await requireVoice(db, { provider: line.voice.provider, voiceId: edit.voice_id });
  }
  return editShot(db, { userId, projectId, clipId }, (s) => {
    const i = find(s);
    if (i < 0) throw notFound("line");
    const line = s.lines[i]!;
    const voice = {
      ...line.voice,
      ...(edit.voice_id ? { voice_id: edit.voice_id } : {}),
      ...(edit.speech_speed ? { speed: edit.speech_speed } : {}),
    };
    const sounds =
      edit.text_content !== line.text || voice.voice_id !== line.voice.voice_id || voice.speed !== line.voice.speed;
    // A new text or voice is spoken by us: the creator's own recording of the old text goes.
    const lines = s.lines.map((l, j) =>
      j === i
        ? {
            ...l,
            text: edit.text_content,
            voice,
            volume: edit.volume ?? l.volume,
            ...(sounds ? { custom_audio: false } : {}),
          }
        : l,
    );
    return { ...s, lines, stale: sounds ? mark(s, "voice") : s.stale };
  });
}

/** The estimated length of a line as it will be spoken. */
export const estimate = (text: string, speed: number) => Number(estimateSpeechS(text, speed).toFixed(2));

export interface EditConfigBody {
  crop_x?: number;
  crop_y?: number;
  crop_width?: number;
  crop_height?: number;
  zoom_level?: number;
  pan_x?: number;
  pan_y?: number;
  rotation?: number;
  filter_type?: string;
  filter_intensity?: number;
}

export function setEditConfig(db: Db, ids: { userId: string; projectId: string; clipId: string }, b: EditConfigBody) {
  const crop = [b.crop_x, b.crop_y, b.crop_width, b.crop_height];
  if (crop.some((v) => v !== undefined) && crop.some((v) => v === undefined)) {
    throw validation([{ path: "/crop_x", message: "crop needs crop_x, crop_y, crop_width and crop_height together" }]);
  }
  if (b.crop_x !== undefined && (b.crop_x + b.crop_width! > 1.0001 || b.crop_y! + b.crop_height! > 1.0001)) {
    throw validation([{ path: "/crop_width", message: "the crop must stay inside the picture" }]);
  }
  const edit: EditConfig = {
    crop: b.crop_x !== undefined ? { x: b.crop_x, y: b.crop_y!, w: b.crop_width!, h: b.crop_height! } : null,
    zoom: b.zoom_level ?? 1,
    pan: { x: b.pan_x ?? 0, y: b.pan_y ?? 0 },
    rotation: b.rotation ?? 0,
    filter:
      b.filter_type && b.filter_type !== "none"
        ? { name: b.filter_type as FilterName, intensity: b.filter_intensity ?? 1 }
        : null,
  };
  return editShot(db, ids, (s) => ({ ...s, edit }));
}

export async function reorder(db: Db, ids: { userId: string; projectId: string }, clipIds: string[]) {
  const { packageId } = await activePackage(db, ids, "editor");
  const shots = await loadShots(db, packageId);
  const byId = new Map(shots.map((s) => [s.id, s]));
  if (
    clipIds.length !== shots.length ||
    new Set(clipIds).size !== clipIds.length ||
    clipIds.some((id) => !byId.has(id))
  ) {
    throw validation([{ path: "/clip_ids", message: "list every clip of the timeline exactly once" }]);
  }
  await replaceShots(
    db,
    packageId,
    clipIds.map((id) => byId.get(id)!),
  );
  return getTimeline(db, ids);
}

export async function deleteClip(
  db: Db,
  { userId, projectId, clipId }: { userId: string; projectId: string; clipId: string },
) {
  const { packageId } = await activePackage(db, { userId, projectId }, "editor");
  const shots = await loadShots(db, packageId);
  if (!shots.some((s) => s.id === clipId)) throw notFound("clip");
  if (shots.length === 1) throw conflict("a timeline keeps at least one clip");
  await replaceShots(
    db,
    packageId,
    shots.filter((s) => s.id !== clipId),
  );
}

const KIND_OF = { keyframe: "keyframe", clip: "clip_video", voice: "voice" } as const;

/** One generation task per clip, in one transaction with their jobs; `batch` puts them under a parent task. */
async function queueClipTasks(
  deps: { db: Db; config: Config; providers: ProviderResolver },
  { userId, projectId, clipIds }: { userId: string; projectId: string; clipIds: string[] },
  what: "keyframe" | "clip" | "voice",
  opts: { steer?: Steer; batch?: boolean },
) {
  const { db } = deps;
  if (what === "voice" && (opts.steer?.prompt || opts.steer?.user_prompt))
    throw new AppError(
      "UNPROCESSABLE",
      "speech models take a line's text, voice and speed, not a prompt: edit the line, or switch its voice",
    );
  const { project, packageId } = await activePackage(db, { userId, projectId }, "editor");
  await limitRequest(deps, { userId, metric: opts.batch ? "batches_per_hour" : "retries_per_hour" });
  const shots = await loadShots(db, packageId);
  const steered = await steering(deps, { projectId, capability: REGENERATE_CAPABILITY[what] }, opts.steer ?? {});
  const orders = [];
  for (const id of new Set(clipIds)) {
    const index = shots.findIndex((s) => s.id === id);
    const shot = shots[index];
    if (!shot) throw notFound("clip");
    if (what === "clip" && shot.keyframe.selected === null)
      throw conflict(`clip "${id}" has no keyframe to animate yet`);
    if (what === "voice" && shot.lines.length === 0) throw conflict(`clip "${id}" has no lines to speak`);
    // Each clip of a batch gets a seed of its own, unless one was given.
    const seed = opts.steer?.seed ?? freshSeed();
    const job = { ...steered.job, seed };
    const params = { ...steered.params, seed };
    orders.push({
      kind: KIND_OF[what],
      target: { type: "clip" as const, id, shot_number: index + 1 },
      params,
      job: regenerateJob({ project_id: projectId, package_id: packageId, target: id, what, user_id: userId, ...job }),
    });
  }
  const batch = opts.batch ? { target: { type: "package" as const, id: packageId }, params: {} } : undefined;
  const payer = await tasksPayer(deps, { userId, spaceId: project.space_id, pin: steered.pin });
  const queued = await queueTasks(db, { projectId, packageId, userId }, orders, batch, payer.pay);
  return {
    ...queued,
    answer: {
      task_ids: queued.tasks.map((t) => t.id),
      job_ids: queued.tasks.map((t) => t.job_id!),
      generation_status: "pending" as const,
      compute: payer.reserved(),
    },
  };
}

/** Queues a new keyframe, video or voice for a clip (202): a generation task whose candidate is selected when made. */
export async function regenerate(
  deps: { db: Db; config: Config; providers: ProviderResolver },
  ids: { userId: string; projectId: string; clipId: string },
  what: "keyframe" | "clip" | "voice",
  steer: Steer = {},
) {
  return (await queueClipTasks(deps, { ...ids, clipIds: [ids.clipId] }, what, { steer })).answer;
}

/**
 * Videos for several clips (seed 003's batch video task): one parent task, `task_id`, whose
 * progress is its per-clip children's together; without `clipIds`, every clip that has a keyframe
 * and no video yet.
 */
export async function generateVideos(
  deps: { db: Db; config: Config; providers: ProviderResolver },
  ids: { userId: string; projectId: string },
  { clipIds, ...steer }: Steer & { clipIds?: string[] },
) {
  const { answer, batch } = await queueClipTasks(
    deps,
    { ...ids, clipIds: clipIds ?? (await unanimated(deps.db, ids)) },
    "clip",
    { steer, batch: true },
  );
  return { ...answer, task_id: batch!.id, total_clips: answer.task_ids.length };
}

/** The clips a batch makes videos for when it names none: those with a keyframe and no video yet. */
async function unanimated(db: Db, ids: { userId: string; projectId: string }): Promise<string[]> {
  const { packageId } = await activePackage(db, ids, "editor");
  const ready = (await loadShots(db, packageId)).filter(
    (s) => s.keyframe.selected !== null && s.clip.selected === null,
  );
  if (ready.length === 0) throw conflict("every clip with a keyframe already has a video: name the clips to redo");
  return ready.map((s) => s.id);
}

export async function candidates(
  db: Db,
  storage: Storage,
  { userId, projectId, clipId }: { userId: string; projectId: string; clipId: string },
) {
  const { packageId } = await activePackage(db, { userId, projectId }, "viewer");
  const shot = (await loadShots(db, packageId)).find((s) => s.id === clipId);
  if (!shot) throw notFound("clip");
  const list = async (c: ShotMaterial["keyframe"]) =>
    Promise.all(
      c.candidates.map(async (ref, i) => {
        const { url, expiresAt } = await storage.signedUrl(ref.storage_key, 3600);
        return {
          asset_id: ref.asset_id,
          mime_type: ref.mime_type,
          selected: c.selected === i,
          url,
          expires_at: expiresAt.toISOString(),
        };
      }),
    );
  return { images: await list(shot.keyframe), videos: await list(shot.clip) };
}

export function selectCandidate(
  db: Db,
  { userId, projectId, clipId, assetId }: { userId: string; projectId: string; clipId: string; assetId: string },
  type: "image" | "video",
) {
  return editShot(db, { userId, projectId, clipId }, (s) => {
    const key = type === "image" ? "keyframe" : "clip";
    const i = s[key].candidates.findIndex((c) => c.asset_id === assetId);
    if (i < 0) throw notFound("candidate");
    const changed = s[key].selected !== i;
    const stale = type === "image" && changed && s.clip.selected !== null ? mark(s, "clip") : s.stale;
    return { ...s, [key]: { ...s[key], selected: i }, stale };
  });
}
