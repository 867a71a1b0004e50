import { join } from "node:path";
import { artLook, figureOf, type LineMaterial, lineLayout, type ShotMaterial, selected } from "../../story/material.ts";
import { firstSpeaker, talkTracks } from "../../story/talk.ts";
import { weatherOf } from "../../story/weather.ts";
import { assetMeta, ensureAsset, inputDigest, localFile } from "../assets.ts";
import { pictureSize, type StepContext } from "../context.ts";
import { loadPackage, loadShot, saveShot } from "../packages.ts";
import { lineVoices } from "./casting.ts";
import { type Guide, guidedPrompt } from "./guide.ts";

/** The keyframe: the shot's scene, its characters drawn from their reference sheets. */
export async function keyframe(ctx: StepContext, shotId: string, seed = 0, guide: Guide = {}) {
  const { db, storage } = ctx.deps;
  const providers = ctx.providers;
  const pkg = await loadPackage(db, ctx.packageId);
  const shot = await loadShot(db, { packageId: ctx.packageId, shotId });
  const scene = pkg.scenes.find((s) => s.id === shot.sceneId);
  // A library character is drawn from all its pictures; the others from their reference sheet.
  const cast = shot.characters.map((n) => pkg.characters.find((c) => c.name === n)).filter((c) => c !== undefined);
  const refs = [
    ...cast.flatMap((c) => c.references ?? (c.reference ? [c.reference] : [])),
    ...(pkg.art_style?.references ?? []),
    ...(guide.references ?? []),
  ];
  const looks = cast.filter((c) => c.library_item_id && c.description).map((c) => `${c.name}: ${c.description}`);
  const size = pictureSize(ctx.project.options);
  const prompt = guidedPrompt(
    {
      art: pkg.art_style?.prompt ?? "",
      subject: [`${shot.description}. Camera: ${shot.camera}.`, ...looks].join(" "),
    },
    guide,
  );
  const speaker = firstSpeaker(shot);
  const hint = {
    location: scene?.location ?? "studio",
    timeOfDay: scene?.timeOfDay ?? "day",
    mood: scene?.mood ?? "calm",
    characters: shot.characters,
    figures: cast.map(figureOf),
    weather: weatherOf(`${scene?.location ?? ""} ${scene?.summary ?? ""} ${shot.description}`),
    ...(pkg.art_style ? { look: artLook(pkg.art_style) } : {}),
    camera: shot.camera,
    ...(speaker ? { speaker } : {}),
  };
  const digest = inputDigest({
    provider: providers.image.provider,
    model: providers.image.modelId,
    prompt,
    hint,
    size,
    refs: refs.map((r) => r.sha256),
    seed,
  });
  const { ref } = await ensureAsset(db, storage, ctx.owner, "keyframe", digest, async () => {
    const references = await Promise.all(
      refs.map(async (r) => ({ bytes: await storage.get(r.storage_key), mimeType: r.mime_type })),
    );
    const r = await providers.image.generate({ prompt, ...size, scene: hint, references, seed, signal: ctx.signal });
    // A painter that says how it laid the picture out (the local one) gets its clip painted from it.
    return {
      bytes: r.data.bytes,
      mimeType: r.data.mimeType,
      ...(r.data.layout ? { meta: { layout: r.data.layout } } : {}),
    };
  });
  await saveShot(db, ctx.packageId, withCandidate(shot, "keyframe", ref));
}

function withCandidate(
  shot: ShotMaterial,
  kind: "keyframe" | "clip",
  ref: NonNullable<ReturnType<typeof selected>>,
): ShotMaterial {
  const c = shot[kind];
  let i = c.candidates.findIndex((x) => x.asset_id === ref.asset_id);
  const candidates = i >= 0 ? c.candidates : [...c.candidates, ref];
  if (i < 0) i = candidates.length - 1;
  return { ...shot, [kind]: { candidates, selected: i }, stale: shot.stale.filter((s) => s !== kind) };
}

/**
 * The lines with voices of the current speech provider: lines cast for another one (the speech
 * chain changed since the storyboard) are cast again from its library, keeping their speed.
 */
async function ownVoices(
  ctx: StepContext,
  pkg: Awaited<ReturnType<typeof loadPackage>>,
  lines: LineMaterial[],
): Promise<LineMaterial[]> {
  const provider = ctx.providers.speech.provider;
  if (lines.every((l) => l.voice.provider === provider)) return lines;
  const speakers = [...new Set(lines.flatMap((l) => (l.kind === "dialogue" && l.speaker ? [l.speaker] : [])))];
  const { narrator, voiceOf } = await lineVoices(ctx, pkg, speakers);
  return lines.map((l) =>
    l.voice.provider === provider
      ? l
      : {
          ...l,
          voice: { ...(l.kind === "dialogue" && l.speaker ? voiceOf(l.speaker) : narrator), speed: l.voice.speed },
        },
  );
}

/** Every narration and dialogue line of the shot spoken; the shot lasts at least as long as its lines. */
export async function voice(ctx: StepContext, shotId: string) {
  const { db, storage } = ctx.deps;
  const providers = ctx.providers;
  const pkg = await loadPackage(db, ctx.packageId);
  const shot = await loadShot(db, { packageId: ctx.packageId, shotId });
  const language = pkg.storyline?.language ?? ctx.project.options.language ?? "zh";
  const lines = [];
  for (const line of await ownVoices(ctx, pkg, shot.lines)) {
    // The creator's own recording stays until its text or voice changes (editLine clears the mark).
    if (line.custom_audio && line.audio) {
      lines.push(line);
      continue;
    }
    const digest = inputDigest({
      provider: providers.speech.provider,
      model: providers.speech.modelId,
      text: line.text,
      voice: line.voice.voice_id,
      speed: line.voice.speed,
      language,
    });
    const { ref, meta } = await ensureAsset(db, storage, ctx.owner, "voice", digest, async () => {
      const r = await providers.speech.generate({
        text: line.text,
        language,
        voice: line.voice.voice_id,
        speed: line.voice.speed,
        signal: ctx.signal,
      });
      return {
        bytes: r.data.bytes,
        mimeType: r.data.mimeType,
        meta: { duration_s: r.data.durationS, timings: r.data.timings },
      };
    });
    lines.push({ ...line, audio: { ...ref, duration_s: meta.duration_s ?? 0, timings: meta.timings ?? [] } });
  }
  const next = { ...shot, lines, stale: shot.stale.filter((s) => s !== "voice") };
  const { spokenS } = lineLayout(next);
  next.durationS = Math.min(60, Math.max(shot.durationS, Math.ceil(spokenS * 10) / 10));
  await saveShot(db, ctx.packageId, next);
}

/**
 * Whether the shot's clip moves its speakers' mouths (a video model that animates speech over a
 * keyframe the painter laid out): new recordings outdate it.
 */
export async function clipSpeaks(ctx: StepContext, shot: ShotMaterial): Promise<boolean> {
  const frame = selected(shot.keyframe);
  if (!frame || shot.clip.selected === null || !ctx.providers.video.animatesSpeech) return false;
  return (await assetMeta(ctx.deps.db, frame.asset_id))?.layout !== undefined;
}

/**
 * A moving clip made from the selected keyframe, as long as the shot. Made again after its
 * lines are (a re-voiced shot's clip with unchanged inputs is found again by its digest).
 */
export async function clip(ctx: StepContext, shotId: string, seed = 0, guide: Guide = {}) {
  const { db, storage, config } = ctx.deps;
  const providers = ctx.providers;
  // A picture edited since it was painted is repainted first: a clip is never made from a stale one.
  if ((await loadShot(db, { packageId: ctx.packageId, shotId })).stale.includes("keyframe"))
    await keyframe(ctx, shotId);
  const shot = await loadShot(db, { packageId: ctx.packageId, shotId });
  const frame = selected(shot.keyframe);
  if (!frame) throw new Error("the shot has no keyframe to animate");
  const size = pictureSize(ctx.project.options);
  const prompt = guidedPrompt({ art: "", subject: shot.description }, guide);
  // A keyframe the painter laid out is moved in layers, its speakers' mouths opening with their lines.
  const layout = (await assetMeta(db, frame.asset_id))?.layout;
  // Only a model that animates speech gets (and is keyed by) the mouths' timings: a cloud clip is
  // not paid for again because a line was re-voiced.
  const talk =
    layout && providers.video.animatesSpeech
      ? talkTracks(shot).filter((t) => layout.figures.some((f) => f.name === t.name))
      : [];
  const digest = inputDigest({
    provider: providers.video.provider,
    model: providers.video.modelId,
    image: frame.sha256,
    ...(talk.length ? { talk } : {}),
    // Unchanged for an unguided clip, so what was made before is found again.
    ...(prompt !== shot.description ? { prompt } : {}),
    duration: shot.durationS,
    camera: shot.camera,
    size,
    seed,
  });
  const { ref } = await ensureAsset(db, storage, ctx.owner, "clip", digest, async () => {
    const path = await localFile(storage, frame, join(config.dataDir, "cache", "assets"));
    const r = await providers.video.generate({
      prompt,
      image: { bytes: await Bun.file(path).bytes(), mimeType: frame.mime_type },
      durationS: shot.durationS,
      ...size,
      fps: 24,
      camera: shot.camera,
      ...(layout ? { layout, scene: layout.scene, talk } : {}),
      seed,
      signal: ctx.signal,
    });
    return { bytes: r.data.bytes, mimeType: r.data.mimeType };
  });
  await saveShot(db, ctx.packageId, withCandidate(shot, "clip", ref));
}
