import { MOODS, type Mood } from "../../providers/types.ts";
import { ensureAsset, inputDigest } from "../assets.ts";
import type { StepContext } from "../context.ts";
import { loadPackage, loadShots, savePackage } from "../packages.ts";
import { guidedPrompt } from "./guide.ts";

/** The story's prevailing mood (its scenes' most common) and a track length to loop under the video. */
async function storyMusic(ctx: StepContext) {
  const { db } = ctx.deps;
  const pkg = await loadPackage(db, ctx.packageId);
  const shots = await loadShots(db, ctx.packageId);
  const counts = new Map<Mood, number>();
  for (const s of pkg.scenes) counts.set(s.mood, (counts.get(s.mood) ?? 0) + 1);
  const mood = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "calm";
  return { pkg, mood, durationS: trackLengthS(shots) };
}

/** A track of 10 s up to a minute; longer videos loop it (the local track is made to loop cleanly). */
export function trackLengthS(shots: Array<{ durationS: number }>): number {
  const totalS = shots.reduce((s, x) => s + x.durationS, 0);
  return Math.max(10, Math.min(60, Math.ceil(totalS)));
}

/** One track from the music model (stored once per input). */
async function track(ctx: StepContext, t: { mood: Mood; durationS: number; seed: number; prompt?: string }) {
  const { db, storage } = ctx.deps;
  const model = ctx.providers.music;
  const digest = inputDigest({ provider: model.provider, model: model.modelId, ...t });
  const { ref } = await ensureAsset(db, storage, ctx.owner, "music", digest, async () => {
    const r = await model.generate({ ...t, mood: MOODS.includes(t.mood) ? t.mood : "calm", signal: ctx.signal });
    return { bytes: r.data.bytes, mimeType: r.data.mimeType };
  });
  return ref;
}

/**
 * Background-music candidates to choose from (POST /timeline/bgm/candidates): `count` tracks in
 * the given mood (else the story's), each with a seed of its own, added to the package's music
 * candidates; the track in use stays until one is selected.
 */
export async function musicCandidates(
  ctx: StepContext,
  c: { mood?: Mood; prompt?: string; userPrompt?: string; seed: number; count: number },
) {
  const story = await storyMusic(ctx);
  const prompt = guidedPrompt({ art: "", subject: story.pkg.storyline?.tone ?? "" }, c) || undefined;
  const made = [];
  for (let i = 0; i < c.count; i++) {
    made.push(
      await track(ctx, {
        mood: c.mood ?? story.mood,
        durationS: story.durationS,
        seed: c.seed + i,
        prompt,
      }),
    );
  }
  const pkg = await loadPackage(ctx.deps.db, ctx.packageId);
  if (pkg.music) {
    const known = new Set((pkg.music.candidates ?? []).map((x) => x.asset_id));
    const candidates = [...(pkg.music.candidates ?? []), ...made.filter((m) => !known.has(m.asset_id))];
    await savePackage(ctx.deps.db, ctx.packageId, { music: { ...pkg.music, candidates } });
  }
  return made;
}

/** One background track in the story's prevailing mood, long enough to loop under the video. */
export async function music(ctx: StepContext) {
  const { pkg, mood, durationS } = await storyMusic(ctx);
  const ref = await track(ctx, { mood, durationS, seed: 1, prompt: pkg.storyline?.tone });
  const previous = pkg.music;
  await savePackage(ctx.deps.db, ctx.packageId, {
    music: {
      asset: ref,
      mood,
      volume: previous?.volume ?? 0.3,
      loop: previous?.loop ?? true,
      fade_in_s: previous?.fade_in_s ?? 1,
      fade_out_s: previous?.fade_out_s ?? 2,
      ...(previous?.candidates ? { candidates: previous.candidates } : {}),
    },
  });
}
