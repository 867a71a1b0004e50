import type { StyleId } from "../../core/project-options.ts";
import type { SceneHint } from "../../providers/types.ts";
import {
  type ArtStyle,
  artLook,
  type CharacterMaterial,
  figureOf,
  type LineMaterial,
  narratorVoice,
  type SceneMaterial,
  type ShotMaterial,
  type Voice,
} from "../../story/material.ts";
import { CharactersSchema, ScenesSchema, StoryboardSchema, StorylineSchema } from "../../story/schemas.ts";
import { STYLE_PRESETS } from "../../story/styles.ts";
import { fitDurations } from "../../story/timing.ts";
import { weatherOf } from "../../story/weather.ts";
import { assignVoices } from "../../voices/assign.ts";
import { ensureAsset, inputDigest } from "../assets.ts";
import type { StepContext } from "../context.ts";
import { pictureSize } from "../context.ts";
import { libraryCast } from "../library-cast.ts";
import { loadPackage, loadShots, replaceShots, saveNarratorVoice, savePackage } from "../packages.ts";
import { castFor, keepable, lineVoices, storyLanguage, voiceLibrary } from "./casting.ts";
import { type Guide, guidedPrompt } from "./guide.ts";

const SYSTEM = "You adapt stories into short illustrated videos. Answer with JSON matching the schema exactly.";

async function ask<S extends Parameters<StepContext["providers"]["text"]["generateObject"]>[0]["schema"]>(
  ctx: StepContext,
  schema: S,
  task: string,
) {
  const result = await ctx.providers.text.generateObject({
    schema,
    system: SYSTEM,
    prompt: `${task}\n\nStory:\n${ctx.project.input_text}`,
    source: ctx.project.input_text,
    signal: ctx.signal,
  });
  return result.data;
}

export async function storyline(ctx: StepContext) {
  const data = await ask(
    ctx,
    StorylineSchema,
    "Give the storyline: title, logline, summary, tone, genre, language and chapters.",
  );
  await savePackage(ctx.deps.db, ctx.packageId, { storyline: data });
}

/** A preset chosen by the project's style option, else by the story's genre and tone. */
export async function artStyle(ctx: StepContext) {
  const pkg = await loadPackage(ctx.deps.db, ctx.packageId);
  const byStory = /古|仙|侠|wuxia|ancient/i.test(`${pkg.storyline?.genre} ${pkg.storyline?.tone}`) ? "ink" : "anime";
  // Options stored before styles were a closed list may name none of them.
  const asked = ctx.project.options.style;
  const name: StyleId = asked && asked in STYLE_PRESETS ? asked : byStory;
  // A library style (style_id) wins over the presets; attached style pictures guide either.
  const art = await (await libraryCast(ctx)).style({ name, ...STYLE_PRESETS[name] });
  await savePackage(ctx.deps.db, ctx.packageId, { art_style: art });
}

/** A character's reference sheet (another seed, another candidate), drawn in the package's art style. */
export async function referenceSheet(
  ctx: StepContext,
  art: ArtStyle | null,
  c: Parameters<typeof figureOf>[0] & { description: string },
  seed = 0,
  guide: Guide = {},
) {
  const size = pictureSize(ctx.project.options);
  const prompt = guidedPrompt(
    { art: art?.prompt ?? "", subject: `Character reference sheet of ${c.name}: ${c.description}` },
    guide,
  );
  const hint = {
    location: "studio",
    timeOfDay: "day" as const,
    mood: "calm" as const,
    characters: [c.name],
    figures: [figureOf(c)],
    caption: c.name,
    ...(art ? { look: artLook(art) } : {}),
  };
  const { ref } = await guidedImage(ctx, "reference", { prompt, hint, size, seed }, guide);
  return ref;
}

/** A scene's picture (another seed, another candidate). */
export async function sceneImage(
  ctx: StepContext,
  artPrompt: string,
  s: Pick<SceneMaterial, "location" | "timeOfDay" | "mood" | "summary">,
  seed = 0,
  guide: Guide = {},
) {
  const size = pictureSize(ctx.project.options);
  const prompt = guidedPrompt(
    { art: artPrompt, subject: `${s.location}, ${s.timeOfDay}, ${s.mood} atmosphere. ${s.summary}` },
    guide,
  );
  const hint = {
    location: s.location,
    timeOfDay: s.timeOfDay,
    mood: s.mood,
    characters: [],
    weather: weatherOf(`${s.location} ${s.summary}`),
  };
  const { ref } = await guidedImage(ctx, "scene_image", { prompt, hint, size, seed }, guide);
  return ref;
}

/** How many characters a poster shows at most. */
const POSTER_CAST = 3;

/**
 * The cover's poster: the story's main characters (protagonists, then antagonists, then the rest,
 * at most three) in the first shot's scene, framed from the waist up, for the title to go over.
 * Made once per inputs, like every picture.
 */
export async function poster(ctx: StepContext, title: string) {
  const pkg = await loadPackage(ctx.deps.db, ctx.packageId);
  const [first] = await loadShots(ctx.deps.db, ctx.packageId);
  const scene = pkg.scenes.find((s) => s.id === first?.sceneId) ?? pkg.scenes[0];
  const rank = { protagonist: 0, antagonist: 1, supporting: 2, minor: 3 } as const;
  const cast = [...pkg.characters]
    .sort((a, b) => rank[a.role] - rank[b.role])
    .slice(0, POSTER_CAST)
    .sort((a, b) => pkg.characters.indexOf(a) - pkg.characters.indexOf(b));
  const place = scene?.location ?? "studio";
  const prompt = guidedPrompt(
    {
      art: pkg.art_style?.prompt ?? "",
      subject: `Poster for "${title}": ${cast.map((c) => `${c.name} (${c.description})`).join(", ")}, in ${place}.`,
    },
    {},
  );
  const hint: SceneHint = {
    location: place,
    timeOfDay: scene?.timeOfDay ?? "day",
    mood: scene?.mood ?? "calm",
    characters: cast.map((c) => c.name),
    figures: cast.map(figureOf),
    weather: weatherOf(`${place} ${scene?.summary ?? ""}`),
    camera: "medium",
    ...(cast[0] ? { speaker: cast[0].name } : {}),
    ...(pkg.art_style ? { look: artLook(pkg.art_style) } : {}),
  };
  const { ref } = await guidedImage(
    ctx,
    "poster",
    { prompt, hint, size: pictureSize(ctx.project.options), seed: 0 },
    {},
  );
  return ref;
}

/** A picture from a prompt and a scene hint, given the guide's reference pictures (stored once per input). */
async function guidedImage(
  ctx: StepContext,
  kind: "reference" | "scene_image" | "poster",
  input: { prompt: string; hint: SceneHint; size: { width: number; height: number }; seed: number },
  guide: Guide,
) {
  const { db, storage } = ctx.deps;
  const image = ctx.providers.image;
  const refs = guide.references ?? [];
  const { prompt, hint, size, seed } = input;
  // A painter that draws the hint alone makes one picture of scenes alike in place, time, mood and weather.
  const digest = inputDigest({
    provider: image.provider,
    model: image.modelId,
    ...(image.readsPrompt === false ? {} : { prompt }),
    hint,
    size,
    seed,
    ...(refs.length > 0 ? { refs: refs.map((r) => r.sha256) } : {}),
  });
  return ensureAsset(db, storage, ctx.owner, kind, digest, async () => {
    const references = await Promise.all(
      refs.map(async (r) => ({ bytes: await storage.get(r.storage_key), mimeType: r.mime_type })),
    );
    const r = await image.generate({ prompt, ...size, scene: hint, references, seed, signal: ctx.signal });
    return {
      bytes: r.data.bytes,
      mimeType: r.data.mimeType,
      ...(r.data.layout ? { meta: { layout: r.data.layout } } : {}),
    };
  });
}

/**
 * The characters, each with a reference sheet and a voice. Voices come from the speech provider's
 * library (refreshed first: a network call for cloud providers, the presets for local), cast by
 * gender and age (see voices/assign.ts); a character keeps the voice it already had from the same
 * provider. The narrator's voice is cast with them and stored on the package.
 */
export async function characters(ctx: StepContext) {
  const { characters: found } = await ask(
    ctx,
    CharactersSchema,
    "List the characters with role, gender, age, appearance and personality.",
  );
  const pkg = await loadPackage(ctx.deps.db, ctx.packageId);
  const speed = ctx.project.options.voice_speed ?? 1;
  const provider = ctx.providers.speech.provider;
  const library = await voiceLibrary(ctx, "characters");
  const kept = new Map<string, Voice>();
  for (const c of found) {
    const previous = pkg.characters.find((p) => p.name === c.name)?.voice;
    if (keepable(ctx, library, previous) && !kept.has(c.name)) kept.set(c.name, previous);
  }
  const keptNarrator = narratorVoice(pkg, provider);
  const narratorKept = keepable(ctx, library, keptNarrator) ? keptNarrator : null;
  const cast = library
    ? assignVoices(
        found,
        library,
        {
          byCharacter: Object.fromEntries([...kept].map(([n, v]) => [n, v.voice_id])),
          narrator: narratorKept?.voice_id,
        },
        { language: storyLanguage(ctx, pkg) },
      )
    : null;
  const lib = await libraryCast(ctx);
  const out: CharacterMaterial[] = [];
  for (const [i, c] of found.entries()) {
    // A library character (or one with attached photos) keeps its own pictures: no reference sheet is drawn for it.
    const subject = await lib.subjectFor(c);
    const pictures = subject?.references ?? [];
    const ref = pictures[0] ?? (await referenceSheet(ctx, pkg.art_style, c));
    const voice = lib.characterVoice(c.name, speed) ??
      (subject?.voice ? { ...subject.voice, speed } : null) ??
      kept.get(c.name) ?? { provider, voice_id: castFor(cast, c.name) ?? c.name, speed };
    out.push({
      ...c,
      ...(subject?.itemId
        ? { library_item_id: subject.itemId, description: subject.description || c.description }
        : {}),
      ...(pictures.length > 0 ? { references: pictures } : {}),
      voice,
      reference: ref,
      candidates: pictures.length > 0 ? pictures : [ref],
    });
    await ctx.progress(((i + 1) / Math.max(1, found.length)) * 100);
  }
  await savePackage(ctx.deps.db, ctx.packageId, { characters: out });
  await saveNarratorVoice(
    ctx.deps.db,
    ctx.packageId,
    lib.narratorVoice(speed) ?? narratorKept ?? { provider, voice_id: cast?.narrator ?? "narrator", speed },
  );
}

export async function scenes(ctx: StepContext) {
  const { scenes: found } = await ask(
    ctx,
    ScenesSchema,
    "List the scenes with location, time of day, mood and who is there.",
  );
  const pkg = await loadPackage(ctx.deps.db, ctx.packageId);
  const out: SceneMaterial[] = [];
  for (const [i, s] of found.entries()) {
    const ref = await sceneImage(ctx, pkg.art_style?.prompt ?? "", s);
    out.push({ ...s, image: ref, candidates: [ref] });
    await ctx.progress(((i + 1) / Math.max(1, found.length)) * 100);
  }
  await savePackage(ctx.deps.db, ctx.packageId, { scenes: out });
}

export async function storyboard(ctx: StepContext) {
  const { shots } = await ask(
    ctx,
    StoryboardSchema,
    "Break the story into shots with narration, dialogue, camera, transition and duration.",
  );
  const pkg = await loadPackage(ctx.deps.db, ctx.packageId);
  const speakers = [...new Set(shots.flatMap((s) => s.dialogue.map((d) => d.speaker)))];
  const { narrator, voiceOf } = await lineVoices(ctx, pkg, speakers);
  const materials: ShotMaterial[] = shots.map(({ narration, dialogue, ...shot }) => {
    const lines: LineMaterial[] = [];
    if (narration.trim())
      lines.push({
        id: `${shot.id}-n`,
        kind: "narration",
        speaker: null,
        text: narration,
        voice: narrator,
        volume: 1,
        audio: null,
      });
    for (const [i, d] of dialogue.entries())
      lines.push({
        id: `${shot.id}-d${i + 1}`,
        kind: "dialogue",
        speaker: d.speaker,
        text: d.text,
        voice: voiceOf(d.speaker),
        volume: 1,
        audio: null,
      });
    return {
      ...shot,
      lines,
      keyframe: { candidates: [], selected: null },
      clip: { candidates: [], selected: null },
      edit: null,
      stale: [],
    };
  });
  await replaceShots(ctx.deps.db, ctx.packageId, fitDurations(materials, ctx.project.options));
}
