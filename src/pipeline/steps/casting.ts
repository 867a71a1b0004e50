/** Casting: voices from the speech provider's library for the characters, the narrator and every speaker. */
import { AiServiceError, isProviderFailure } from "../../providers/ai-error.ts";
import type { VoiceInfo } from "../../providers/types.ts";
import { narratorVoice, type Voice } from "../../story/material.ts";
import { assignVoices, type CastCharacter, type VoiceAssignment } from "../../voices/assign.ts";
import { acceptsAnyVoice, refreshVoices } from "../../voices/library.ts";
import type { StepContext } from "../context.ts";
import { type loadPackage, saveNarratorVoice, savePackage } from "../packages.ts";

/** The speech provider's voice library, fetched again when stale; null when its speech model lists no voices. */
export async function voiceLibrary(ctx: StepContext, stage: string): Promise<VoiceInfo[] | null> {
  const speech = ctx.providers.speech;
  if (typeof speech.voices !== "function") return null;
  try {
    const { voices, warning } = await refreshVoices(ctx.deps.db, speech, { signal: ctx.signal });
    if (warning) ctx.deps.log.warn(warning, { provider: speech.provider, project_id: ctx.project.id, stage });
    if (voices.length === 0) throw new Error(`the speech provider ${speech.provider} lists no voices to speak with`);
    return voices;
  } catch (e) {
    if (ctx.signal.aborted || !isProviderFailure(e)) throw e;
    throw new AiServiceError(
      "speech",
      speech.provider,
      "voices",
      { projectId: ctx.project.id, spaceId: ctx.project.space_id, stage },
      e,
    );
  }
}

/** A voice of the current speech provider that can be kept: its own, and still in its library (local takes any name). */
export function keepable(ctx: StepContext, library: VoiceInfo[] | null, v: Voice | null | undefined): v is Voice {
  const provider = ctx.providers.speech.provider;
  if (!v || v.provider !== provider || !v.voice_id) return false;
  return !library || acceptsAnyVoice(provider) || library.some((x) => x.voice_id === v.voice_id);
}

/** A character's voice_id in a cast (own properties only: a character may be called "constructor"). */
export const castFor = (cast: VoiceAssignment | null, name: string) =>
  cast && Object.hasOwn(cast.byCharacter, name) ? cast.byCharacter[name] : undefined;

export const storyLanguage = (ctx: StepContext, pkg: { storyline: { language?: string } | null }) =>
  pkg.storyline?.language ?? ctx.project.options.language ?? null;

/**
 * Voices for the storyboard's lines: the narrator's stored on the package, each character's own.
 * Speakers without one of the current speech provider's voices (not among the characters, or
 * cast for another provider), and a narrator not stored yet, are cast from the library.
 */
export async function lineVoices(ctx: StepContext, pkg: Awaited<ReturnType<typeof loadPackage>>, speakers: string[]) {
  const provider = ctx.providers.speech.provider;
  const speed = ctx.project.options.voice_speed ?? 1;
  const characterOf = (name: string) =>
    pkg.characters.find((c) => c.name === name) ?? pkg.characters.find((c) => c.aliases.includes(name));
  const own = (v: Voice | undefined): v is Voice => !!v && v.provider === provider && !!v.voice_id;
  let narrator = narratorVoice(pkg, provider);
  const byName = new Map<string, Voice>();
  const toCast: CastCharacter[] = [];
  for (const s of speakers) {
    const c = characterOf(s);
    if (c && own(c.voice)) byName.set(s, c.voice);
    else if (!toCast.some((x) => x.name === (c?.name ?? s)))
      toCast.push(c ?? { name: s, gender: "unknown", age: "unknown", role: "minor" });
  }
  if (toCast.length === 0 && narrator) return { narrator, voiceOf: (name: string) => byName.get(name)! };
  const library = await voiceLibrary(ctx, "storyboard");
  const fixed = Object.fromEntries(pkg.characters.filter((c) => own(c.voice)).map((c) => [c.name, c.voice.voice_id]));
  const cast = library
    ? assignVoices(
        toCast,
        library,
        { byCharacter: fixed, narrator: narrator?.voice_id },
        { language: storyLanguage(ctx, pkg) },
      )
    : null;
  if (!narrator) {
    narrator = { provider, voice_id: cast?.narrator ?? "narrator", speed };
    await saveNarratorVoice(ctx.deps.db, ctx.packageId, narrator);
  }
  const castVoice = (name: string): Voice => {
    const c = characterOf(name);
    const key = c?.name ?? name;
    return { provider, voice_id: castFor(cast, key) ?? key, speed: c?.voice?.speed ?? speed };
  };
  // Characters cast again for this provider keep their new voice.
  const recast = pkg.characters.filter((c) => !own(c.voice) && toCast.some((x) => x.name === c.name));
  if (recast.length)
    await savePackage(ctx.deps.db, ctx.packageId, {
      characters: pkg.characters.map((c) => (recast.includes(c) ? { ...c, voice: castVoice(c.name) } : c)),
    });
  const n = narrator;
  return { narrator: n, voiceOf: (name: string) => byName.get(name) ?? castVoice(name) };
}
