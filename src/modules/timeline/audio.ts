import { createHash } from "node:crypto";
import { join } from "node:path";
import { sql } from "kysely";
import type { Config } from "../../config.ts";
import { conflict, notFound, tooLarge, unsupported, validation } from "../../core/errors.ts";
import type { Db } from "../../db/client.ts";
import { withTempDir } from "../../media/ffmpeg.ts";
import { sniffAudio } from "../../media/sniff.ts";
import { type AssetOwner, ensureAsset } from "../../pipeline/assets.ts";
import { regenerateJob } from "../../pipeline/jobs.ts";
import { loadPackage, loadShots, savePackage, saveShot } from "../../pipeline/packages.ts";
import { queueTasks } from "../../pipeline/tasks.ts";
import type { ProviderResolver } from "../../providers/registry.ts";
import type { Mood } from "../../providers/types.ts";
import { tasksPayer } from "../../services/compute.ts";
import { probeSent } from "../../services/media-check.ts";
import { type Steer, steering } from "../../services/steering.ts";
import { limitRequest } from "../../services/usage-limits.ts";
import type { Storage } from "../../storage/types.ts";
import { type AssetRef, lineLayout, type MusicMaterial, narratorVoice, withTrack } from "../../story/material.ts";
import { activePackage, toClip } from "./service.ts";

/** The most an uploaded recording may weigh (the `/upload` routes' body limit). */
export const AUDIO_UPLOAD_MAX_BYTES = 10 * 1024 * 1024;
const LINK_TTL_S = 3600;

/**
 * An uploaded recording checked and stored as one of the project's assets: 413 over the limit,
 * 415 when its bytes are not WAV, MP3, M4A, OGG or FLAC (whatever its name says) or ffprobe finds
 * no sound in it. Stored once per content (the asset's digest is the bytes').
 */
async function storeRecording(
  { db, storage }: { db: Db; storage: Storage },
  owner: AssetOwner,
  kind: "custom_voice" | "custom_music",
  file: File,
): Promise<{ ref: AssetRef; durationS: number }> {
  if (file.size > AUDIO_UPLOAD_MAX_BYTES) throw tooLarge(AUDIO_UPLOAD_MAX_BYTES, "the recording");
  const bytes = new Uint8Array(await file.arrayBuffer());
  const mimeType = await sniffAudio(bytes);
  if (!mimeType) throw unsupported("the file is not a WAV, MP3, M4A, OGG or FLAC recording");
  const durationS = await withTempDir(async (dir) => {
    const path = join(dir, "recording");
    await Bun.write(path, bytes);
    const probed = await probeSent(path, "audio", "the recording");
    if (!(probed.durationS > 0)) throw unsupported("the file holds no sound");
    return probed.durationS;
  });
  const digest = createHash("sha256").update(bytes).digest("hex");
  const { ref } = await ensureAsset(db, storage, owner, kind, digest, async () => ({
    bytes,
    mimeType,
    meta: { duration_s: durationS, file_name: file.name.slice(0, 200) },
  }));
  return { ref, durationS };
}

type ClipIds = { userId: string; projectId: string; clipId: string };

/**
 * A clip's narration from the creator's own recording (seed 003 §4.3): the line keeps it, at its
 * length, until its text or voice is edited; the subtitles show `transcript` when given (else the
 * line's text). A clip without narration gets a narration line. The clip lasts at least as long as
 * its lines; a recording that cannot fit a clip (60 s) is refused.
 */
export async function customNarration(
  deps: { db: Db; storage: Storage },
  ids: ClipIds,
  file: File,
  transcript?: string,
) {
  const { db } = deps;
  const { project, packageId } = await activePackage(db, ids, "editor");
  const shots = await loadShots(db, packageId);
  const index = shots.findIndex((s) => s.id === ids.clipId);
  const shot = shots[index];
  if (!shot) throw notFound("clip");
  const owner = { spaceId: project.space_id, projectId: project.id, packageId, ownerId: ids.userId };
  const { ref, durationS } = await storeRecording(deps, owner, "custom_voice", file);
  const audio = { ...ref, duration_s: durationS, timings: [] };
  const at = shot.lines.findIndex((l) => l.kind === "narration");
  const lines =
    at >= 0
      ? shot.lines.map((l, i) => (i === at ? { ...l, text: transcript ?? l.text, audio, custom_audio: true } : l))
      : [
          {
            id: `${shot.id}-n`,
            kind: "narration" as const,
            speaker: null,
            text: transcript ?? "",
            voice: narratorVoice(await loadPackage(db, packageId)) ??
              shot.lines[0]?.voice ?? {
                provider: "custom",
                voice_id: "custom",
                speed: 1,
              },
            volume: 1,
            audio,
            custom_audio: true,
          },
          ...shot.lines,
        ];
  const { spokenS } = lineLayout({ ...shot, lines });
  if (spokenS > 60)
    throw validation(
      [{ path: "/file", message: `the clip's lines would last ${spokenS.toFixed(1)} s; a clip lasts at most 60 s` }],
      "the recording is too long for one clip",
    );
  const next = { ...shot, lines, durationS: Math.min(60, Math.max(shot.durationS, Math.ceil(spokenS * 10) / 10)) };
  await saveShot(db, packageId, next);
  const startS = shots.slice(0, index).reduce((s, x) => s + x.durationS, 0);
  return toClip(next, index, startS);
}

/** A clip's narration and dialogue lines with what a player needs (seed 003 §4.3.1). */
export async function clipAudio(db: Db, storage: Storage, ids: ClipIds) {
  const { packageId } = await activePackage(db, ids, "viewer");
  const shot = (await loadShots(db, packageId)).find((s) => s.id === ids.clipId);
  if (!shot) throw notFound("clip");
  const [names, speaking] = await Promise.all([
    db
      .selectFrom("voices")
      .select(["provider", "voice_id", "name"])
      .where(
        "voice_id",
        "in",
        shot.lines.map((l) => l.voice.voice_id),
      )
      .execute(),
    // A voice task queued or running for this clip: its lines are being spoken.
    db
      .selectFrom("generation_tasks")
      .select("id")
      .where("package_id", "=", packageId)
      .where("kind", "=", "voice")
      .where("status", "in", ["pending", "processing"])
      .where(sql<string>`target->>'id'`, "=", shot.id)
      .executeTakeFirst(),
  ]);
  const nameOf = (p: string, v: string) => names.find((n) => n.provider === p && n.voice_id === v)?.name ?? null;
  const { offsets } = lineLayout(shot);
  const lines = await Promise.all(
    shot.lines.map(async (l, i) => {
      const link = l.audio ? await storage.signedUrl(l.audio.storage_key, LINK_TTL_S) : null;
      const stale = shot.stale.includes("voice") && !l.custom_audio;
      return {
        id: l.id,
        kind: l.kind,
        character_name: l.speaker,
        text_content: l.text,
        voice_id: l.voice.voice_id,
        voice_name: nameOf(l.voice.provider, l.voice.voice_id),
        speech_speed: l.voice.speed,
        volume: l.volume,
        emotion: null,
        offset_s: Number(offsets[i]!.toFixed(3)),
        duration_s: l.audio?.duration_s ?? null,
        audio_url: stale ? null : (link?.url ?? null),
        expires_at: stale ? null : (link?.expiresAt.toISOString() ?? null),
        generation_status: speaking
          ? ("processing" as const)
          : l.audio && !stale
            ? ("completed" as const)
            : ("pending" as const),
        is_custom_audio: l.custom_audio === true,
      };
    }),
  );
  return {
    clip_id: shot.id,
    narration: lines.find((l) => l.kind === "narration") ?? null,
    dialogue: lines.filter((l) => l.kind === "dialogue"),
  };
}

/** Background music from the creator's own recording, in use from the next export. */
export async function uploadBgm(
  deps: { db: Db; storage: Storage },
  ids: { userId: string; projectId: string },
  file: File,
) {
  const { db } = deps;
  const { project, packageId } = await activePackage(db, ids, "editor");
  const owner = { spaceId: project.space_id, projectId: project.id, packageId, ownerId: ids.userId };
  const { ref } = await storeRecording(deps, owner, "custom_music", file);
  const pkg = await loadPackage(db, packageId);
  const music = withTrack(pkg.music, ref);
  await savePackage(db, packageId, { music });
  return bgmView(deps.storage, music);
}

/** Uses one of the music candidates (or the track in use): the export after it plays that one. */
export async function selectBgm(
  { db, storage }: { db: Db; storage: Storage },
  ids: { userId: string; projectId: string; assetId: string },
) {
  const { packageId } = await activePackage(db, ids, "editor");
  const pkg = await loadPackage(db, packageId);
  const all = [...(pkg.music?.asset ? [pkg.music.asset] : []), ...(pkg.music?.candidates ?? [])];
  const chosen = all.find((c) => c.asset_id === ids.assetId);
  if (!chosen) throw notFound("music candidate");
  const music = withTrack(pkg.music, chosen);
  await savePackage(db, packageId, { music });
  return bgmView(storage, music);
}

/** The background music with signed links to the track in use and the candidates. */
export async function bgmView(storage: Storage, music: MusicMaterial | null) {
  const link = async (r: AssetRef) => {
    const { url, expiresAt } = await storage.signedUrl(r.storage_key, LINK_TTL_S);
    return { asset_id: r.asset_id, mime_type: r.mime_type, url, expires_at: expiresAt.toISOString() };
  };
  if (!music) return null;
  return {
    mood: music.mood,
    volume: music.volume,
    loop: music.loop,
    fade_in_s: music.fade_in_s,
    fade_out_s: music.fade_out_s,
    track: music.asset ? await link(music.asset) : null,
    candidates: await Promise.all((music.candidates ?? []).map(link)),
  };
}

export async function getBgm(db: Db, storage: Storage, ids: { userId: string; projectId: string }) {
  const { packageId } = await activePackage(db, ids, "viewer");
  return bgmView(storage, (await loadPackage(db, packageId)).music);
}

export async function setBgm(
  { db, storage }: { db: Db; storage: Storage },
  ids: { userId: string; projectId: string },
  b: Partial<Pick<MusicMaterial, "volume" | "loop" | "fade_in_s" | "fade_out_s">>,
) {
  const { packageId } = await activePackage(db, ids, "editor");
  const pkg = await loadPackage(db, packageId);
  if (!pkg.music) throw conflict("the package has no music yet: run the music stage first");
  const music = { ...pkg.music, ...b };
  await savePackage(db, packageId, { music });
  return bgmView(storage, music);
}

/**
 * Queues background-music candidates (202): one `bgm` task making `count` tracks in `mood` (else
 * the story's), steered by `prompt` and `model_id`; pick one with POST bgm/select.
 */
export async function bgmCandidates(
  deps: { db: Db; config: Config; providers: ProviderResolver },
  ids: { userId: string; projectId: string },
  b: Pick<Steer, "prompt" | "user_prompt" | "model_id" | "seed"> & { mood?: Mood; count?: number },
) {
  const { db } = deps;
  const { project, packageId } = await activePackage(db, ids, "editor");
  await limitRequest(deps, { userId: ids.userId, metric: "retries_per_hour" });
  const pkg = await loadPackage(db, packageId);
  if (!pkg.music) throw conflict("the package has no music yet: run the music stage first");
  const { job, params, pin } = await steering(deps, { projectId: ids.projectId, capability: "music" }, b);
  const count = b.count ?? 2;
  const payer = await tasksPayer(deps, { userId: ids.userId, spaceId: project.space_id, pin });
  const { tasks } = await queueTasks(
    db,
    { ...ids, packageId },
    [
      {
        kind: "bgm",
        target: { type: "package", id: packageId },
        params: { ...params, ...(b.mood ? { mood: b.mood } : {}) },
        job: regenerateJob({
          project_id: ids.projectId,
          package_id: packageId,
          target: packageId,
          what: "music",
          user_id: ids.userId,
          ...job,
          ...(b.mood ? { mood: b.mood } : {}),
          count,
        }),
      },
    ],
    undefined,
    payer.pay,
  );
  return {
    task_ids: tasks.map((t) => t.id),
    job_ids: tasks.map((t) => t.job_id!),
    generation_status: "pending" as const,
    compute: payer.reserved(),
  };
}
