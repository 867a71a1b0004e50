import { MOODS, type Mood } from "../../providers/types.ts";
import { ensureAsset, inputDigest } from "../assets.ts";
import type { StepContext } from "../context.ts";
import { loadPackage, loadShots, savePackage } from "../packages.ts";

/** One background track in the story's prevailing mood, long enough to loop under the video. */
export async function music(ctx: StepContext) {
  const { db, storage } = ctx.deps;
  const providers = ctx.providers;
  const pkg = await loadPackage(db, ctx.packageId);
  const shots = await loadShots(db, ctx.packageId);
  const counts = new Map<Mood, number>();
  for (const s of pkg.scenes) counts.set(s.mood, (counts.get(s.mood) ?? 0) + 1);
  const mood = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "calm";
  const totalS = shots.reduce((s, x) => s + x.durationS, 0);
  // A track of up to a minute; longer videos loop it (the local track is made to loop cleanly).
  const durationS = Math.max(10, Math.min(60, Math.ceil(totalS)));
  const prompt = pkg.storyline?.tone;
  const digest = inputDigest({
    provider: providers.music.provider,
    model: providers.music.modelId,
    mood,
    durationS,
    seed: 1,
    prompt,
  });
  const { ref } = await ensureAsset(db, storage, ctx.owner, "music", digest, async () => {
    const r = await providers.music.generate({
      mood: MOODS.includes(mood) ? mood : "calm",
      durationS,
      seed: 1,
      prompt,
      signal: ctx.signal,
    });
    return { bytes: r.data.bytes, mimeType: r.data.mimeType };
  });
  const previous = pkg.music;
  await savePackage(db, ctx.packageId, {
    music: {
      asset: ref,
      mood,
      volume: previous?.volume ?? 0.3,
      loop: previous?.loop ?? true,
      fade_in_s: previous?.fade_in_s ?? 1,
      fade_out_s: previous?.fade_out_s ?? 2,
    },
  });
}
