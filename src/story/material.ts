import type { EditConfig } from "./edit.ts";
import type { PaintedLayout } from "./hints.ts";
import type { Character, Scene, Shot, Storyline } from "./schemas.ts";
import type { SpeechTiming } from "./timing.ts";

/** A stored file a material points at. */
export interface AssetRef {
  asset_id: string;
  storage_key: string;
  mime_type: string;
  sha256: string;
}

/**
 * What is known of a stored file besides its bytes (`assets.meta`): a recording's length and
 * sentence timings, an export's length, an upload's original name.
 */
export type AssetMeta = {
  duration_s?: number;
  timings?: SpeechTiming[];
  file_name?: string;
  /** A picture's or video's size (uploads). */
  width?: number;
  height?: number;
  /** The stored key of an upload's thumbnail (pictures and videos). */
  thumbnail_key?: string;
  /** How the local painter laid a keyframe out: its clip is painted from it in layers, mouths moving. */
  layout?: PaintedLayout;
};

export interface Voice {
  provider: string;
  voice_id: string;
  speed: number;
}

export interface CharacterMaterial extends Character {
  voice: Voice;
  /** The library character that plays it (project option subject_ids / subject_map). */
  library_item_id?: string;
  /** Its library pictures: every keyframe of it is drawn from all of them. */
  references?: AssetRef[];
  /** The selected reference sheet, one of `candidates`. */
  reference: AssetRef | null;
  candidates: AssetRef[];
}

export interface SceneMaterial extends Scene {
  /** The selected picture, one of `candidates`. */
  image: AssetRef | null;
  candidates: AssetRef[];
}

export interface ArtStyle {
  name: string;
  prompt: string;
  palette: string[];
  /** Drawn in greys (manga). */
  monochrome?: boolean;
  /** The library style it came from (project option style_id), and its preview picture to follow. */
  library_item_id?: string;
  references?: AssetRef[];
}

export interface LineMaterial {
  id: string;
  kind: "narration" | "dialogue";
  speaker: string | null;
  text: string;
  voice: Voice;
  volume: number;
  audio: (AssetRef & { duration_s: number; timings: SpeechTiming[] }) | null;
  /** The audio is the creator's own recording (uploaded), not speech we made: kept until the text changes. */
  custom_audio?: boolean;
}

export interface Candidates {
  candidates: AssetRef[];
  selected: number | null;
}

/** One storyboard shot with everything made for it. `stale` lists what an edit made out of date. */
export interface ShotMaterial extends Omit<Shot, "narration" | "dialogue"> {
  lines: LineMaterial[];
  keyframe: Candidates;
  clip: Candidates;
  edit: EditConfig | null;
  stale: Array<"keyframe" | "voice" | "clip">;
  /** How long the transition into this shot lasts (default 0.5 s). */
  transitionS?: number;
}

export interface MusicMaterial {
  /** The track in use: made by the music stage, one of `candidates`, or the creator's upload. */
  asset: AssetRef | null;
  /** Other tracks to choose from (generated candidates, uploads). */
  candidates?: AssetRef[];
  mood: string;
  volume: number;
  loop: boolean;
  fade_in_s: number;
  fade_out_s: number;
}

const DEFAULT_MUSIC = { mood: "custom", volume: 0.3, loop: true, fade_in_s: 1, fade_out_s: 2 };

/** The package's music with `asset` in use; the track it replaces stays a candidate to go back to. */
export function withTrack(music: MusicMaterial | null, asset: AssetRef): MusicMaterial {
  const previous = music?.asset ? [music.asset] : [];
  const candidates = [...(music?.candidates ?? []), ...previous].filter(
    (c, i, all) => c.asset_id !== asset.asset_id && all.findIndex((x) => x.asset_id === c.asset_id) === i,
  );
  return { ...DEFAULT_MUSIC, ...music, asset, candidates };
}

/**
 * The package's storyline. `narrator_voice` (set by the characters stage, changed by switching the
 * narrator's voice) is the voice new narration lines get; it lives in the storyline's JSON
 * because the packages table has no column of its own for it.
 */
export type StorylineMaterial = Storyline & { narrator_voice?: Voice };

export interface PackageContent {
  storyline: StorylineMaterial | null;
  art_style: ArtStyle | null;
  characters: CharacterMaterial[];
  scenes: SceneMaterial[];
  music: MusicMaterial | null;
}

/** The narrator's voice stored on the package, when it is one of `provider`'s (any provider's when not given). */
export function narratorVoice(pkg: Pick<PackageContent, "storyline">, provider?: string): Voice | null {
  const v = pkg.storyline?.narrator_voice;
  if (!v || typeof v.voice_id !== "string" || !v.voice_id) return null;
  return provider === undefined || v.provider === provider ? v : null;
}

export const selected = (c: Candidates): AssetRef | null =>
  c.selected === null ? null : (c.candidates[c.selected] ?? null);

/** The gap between consecutive lines of a shot, and the air before the first. */
export const LINE_GAP_S = 0.3;
export const LEAD_S = 0.3;

/** Where each line starts in its shot, and how long the shot must last to hold them all. */
export function lineLayout(shot: ShotMaterial): { offsets: number[]; spokenS: number } {
  let at = LEAD_S;
  const offsets = shot.lines.map((l) => {
    const start = at;
    at += (l.audio?.duration_s ?? 0) + LINE_GAP_S;
    return start;
  });
  return { offsets, spokenS: at };
}

/**
 * How the offline painter draws a character: its species, gender and age, seeded by its library
 * item (the same look in every project that casts it) or else its name. Packages made before
 * characters had a species hold people.
 */
export function figureOf(
  c: Pick<CharacterMaterial, "name" | "gender" | "age" | "library_item_id"> & {
    species?: CharacterMaterial["species"];
  },
) {
  return {
    name: c.name,
    seed: c.library_item_id ?? c.name,
    species: c.species ?? "human",
    gender: c.gender,
    age: c.age,
  };
}

/** The art style as a painter without a text model uses it: a palette, black and white, the style's name. */
export const artLook = (a: ArtStyle) => ({
  palette: a.palette,
  ...(a.monochrome !== undefined ? { monochrome: a.monochrome } : {}),
  style: a.name,
});
