/**
 * "Save to library" (seed 003 §6): a project's character, art style, voice or music track becomes
 * an item of the project's space, to cast in other projects and episodes.
 */
import { conflict, notFound, validation } from "../../core/errors.ts";
import type { CharacterData, LibraryData, MusicData, StyleData, VoiceData } from "../../core/library-item.ts";
import type { Db } from "../../db/client.ts";
import { loadPackage, loadShots } from "../../pipeline/packages.ts";
import { requirePackage } from "../../services/project-access.ts";
import type { Storage } from "../../storage/types.ts";
import { type PackageContent, type ShotMaterial, selected } from "../../story/material.ts";
import { createItem } from "./service.ts";

export const SAVE_TARGETS = ["character", "style", "voice", "bgm"] as const;
export type SaveTarget = (typeof SAVE_TARGETS)[number];

export interface SaveInput {
  target: SaveTarget;
  /** The character's name (character; voice: whose, absent for the narrator). */
  element_id?: string;
  name?: string;
  tags?: string[];
}

type Draft = { kind: "character" | "style" | "voice" | "music"; name: string; description: string; data: LibraryData };

const HEX = /^#[0-9a-fA-F]{6}$/;

function characterDraft(pkg: PackageContent, name: string): Draft {
  const c = pkg.characters.find((x) => x.name === name);
  if (!c) throw notFound("character");
  const pictures = c.references ?? (c.reference ? [c.reference] : []);
  const data: CharacterData = {
    gender: c.gender,
    age: c.age,
    appearance: "",
    personality: c.personality,
    reference_asset_ids: pictures.slice(0, 4).map((p) => p.asset_id),
    voice: { provider: c.voice.provider, voice_id: c.voice.voice_id },
  };
  return { kind: "character", name: c.name, description: c.description, data };
}

/** The art style; its preview is the first keyframe drawn in it (else its first reference). */
function styleDraft(pkg: PackageContent, shots: ShotMaterial[]): Draft {
  const s = pkg.art_style;
  if (!s) throw conflict("the package has no art style yet: run the style stage first");
  const keyframe = shots.map((x) => selected(x.keyframe)).find((r) => r !== null);
  const preview = keyframe ?? s.references?.[0] ?? null;
  const data: StyleData = {
    prompt_template: s.prompt,
    negative_prompt: "",
    preview_asset_id: preview?.asset_id ?? null,
    palette: s.palette.filter((p) => HEX.test(p)).slice(0, 8),
    monochrome: s.monochrome ?? false,
  };
  return { kind: "style", name: s.name, description: "", data };
}

/** A character's (or the narrator's) voice; its sample is the first of their lines already spoken. */
function voiceDraft(pkg: PackageContent, shots: ShotMaterial[], who: string | null): Draft {
  const c = who === null ? null : pkg.characters.find((x) => x.name === who);
  if (who !== null && !c) throw notFound("character");
  const lines = shots
    .flatMap((s) => s.lines)
    .filter((l) => (who === null ? l.kind === "narration" : l.speaker === who));
  const voice = c?.voice ?? pkg.storyline?.narrator_voice ?? lines[0]?.voice;
  if (!voice) throw conflict("the package has no narrator voice yet: run the storyboard first");
  const spoken = lines.find((l) => l.audio && !l.custom_audio && l.voice.voice_id === voice.voice_id)?.audio;
  const data: VoiceData = {
    provider: voice.provider,
    voice_id: voice.voice_id,
    voice_type: who === null ? "narration" : "dialogue",
    gender: c?.gender ?? "unknown",
    language: pkg.storyline?.language ?? null,
    sample_asset_id: spoken?.asset_id ?? null,
    cloned: false,
  };
  return { kind: "voice", name: who === null ? "Narrator" : who, description: "", data };
}

function trackDraft(pkg: PackageContent): Draft {
  const track = pkg.music?.asset;
  if (!track) throw conflict("the package has no music yet: run the music stage or upload a track first");
  const data: MusicData = { asset_id: track.asset_id, mood: pkg.music!.mood, genre: null, bpm: null, duration_s: 0 };
  const name = pkg.storyline?.title ? `${[...pkg.storyline.title].slice(0, 80).join("")} theme` : "Theme";
  return { kind: "music", name, description: "", data };
}

/**
 * Saves one of a package's materials as a library item of the project's space (an editor there):
 * a character with its pictures and voice, the art style with a preview, a voice with a sample,
 * or the track in use. The item points at the package's own stored files (no copy is made).
 */
export async function saveToLibrary(
  db: Db,
  storage: Storage,
  { userId, packageId }: { userId: string; packageId: string },
  input: SaveInput,
) {
  const { project } = await requirePackage(db, { userId, packageId }, "editor");
  if (input.target === "character" && input.element_id === undefined)
    throw validation([{ path: "/element_id", message: "name the character to save" }]);
  if ((input.target === "style" || input.target === "bgm") && input.element_id !== undefined)
    throw validation([{ path: "/element_id", message: `a package has one ${input.target}: leave element_id out` }]);
  const pkg = await loadPackage(db, packageId);
  const shots = input.target === "style" || input.target === "voice" ? await loadShots(db, packageId) : [];
  const draft =
    input.target === "character"
      ? characterDraft(pkg, input.element_id!)
      : input.target === "style"
        ? styleDraft(pkg, shots)
        : input.target === "voice"
          ? voiceDraft(pkg, shots, input.element_id ?? null)
          : trackDraft(pkg);
  return createItem(db, storage, { userId, spaceId: project.space_id, currentSpaceId: null }, draft.kind, {
    name: input.name ?? draft.name,
    description: draft.description,
    tags: input.tags ?? [],
    data: draft.data,
  });
}
