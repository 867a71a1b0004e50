import { type Static, Type } from "@sinclair/typebox";
import { literals } from "./schema.ts";

/**
 * The asset library's kinds (seed 003 §6) and what each keeps besides a name, description and
 * tags (`library_items.data`). Files are asset ids of the item's space: the API shows them as
 * signed links, the pipeline reads them from storage.
 */
export const LIBRARY_KINDS = ["character", "style", "voice", "music"] as const;
export type LibraryKind = (typeof LIBRARY_KINDS)[number];

const uuid = Type.String({ format: "uuid" });
const providerId = Type.String({ pattern: "^[a-z0-9][a-z0-9-]{1,62}$" });
export const LibraryVoiceRef = Type.Object(
  {
    provider: providerId,
    voice_id: Type.String({ minLength: 1, maxLength: 200 }),
  },
  { additionalProperties: false },
);

export const CharacterData = Type.Object(
  {
    gender: literals(["male", "female", "unknown"] as const),
    age: literals(["child", "young", "adult", "elder", "unknown"] as const),
    appearance: Type.String({ maxLength: 1000, description: "How the character looks: added to every picture of it" }),
    personality: Type.String({ maxLength: 500 }),
    reference_asset_ids: Type.Array(uuid, {
      maxItems: 4,
      description: "Pictures of the character (uploads of the space): its reference in every project that casts it",
    }),
    voice: Type.Union([LibraryVoiceRef, Type.Null()], { description: "The voice it speaks with by default" }),
  },
  { additionalProperties: false },
);

export const StyleData = Type.Object(
  {
    prompt_template: Type.String({ minLength: 1, maxLength: 1000, description: "Put first in every image prompt" }),
    negative_prompt: Type.String({ maxLength: 1000 }),
    preview_asset_id: Type.Union([uuid, Type.Null()], { description: "A picture in the style: also a reference" }),
    palette: Type.Array(Type.String({ pattern: "^#[0-9a-fA-F]{6}$" }), { maxItems: 8 }),
    monochrome: Type.Boolean(),
  },
  { additionalProperties: false },
);

export const VoiceData = Type.Object(
  {
    provider: providerId,
    voice_id: Type.String({ minLength: 1, maxLength: 200 }),
    voice_type: literals(["narration", "dialogue", "any"] as const),
    gender: literals(["male", "female", "neutral", "unknown"] as const),
    language: Type.Union([Type.String({ pattern: "^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$" }), Type.Null()]),
    sample_asset_id: Type.Union([uuid, Type.Null()], { description: "A recording of the voice (an upload)" }),
    cloned: Type.Boolean({ description: "Made from the space's own recordings (ElevenLabs instant voice clone)" }),
  },
  { additionalProperties: false },
);

export const MusicData = Type.Object(
  {
    asset_id: uuid,
    mood: Type.Union([Type.String({ maxLength: 40 }), Type.Null()]),
    genre: Type.Union([Type.String({ maxLength: 40 }), Type.Null()]),
    bpm: Type.Union([Type.Integer({ minimum: 20, maximum: 300 }), Type.Null()]),
    duration_s: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false },
);

export type CharacterData = Static<typeof CharacterData>;
export type StyleData = Static<typeof StyleData>;
export type VoiceData = Static<typeof VoiceData>;
export type MusicData = Static<typeof MusicData>;
export type LibraryVoiceRef = Static<typeof LibraryVoiceRef>;

export interface LibraryDataOf {
  character: CharacterData;
  style: StyleData;
  voice: VoiceData;
  music: MusicData;
}
export type LibraryData = LibraryDataOf[LibraryKind];

/** The asset ids an item's data points at (what must stay while the item does). */
export function itemAssetIds(kind: LibraryKind, data: LibraryData): string[] {
  if (kind === "character") return (data as CharacterData).reference_asset_ids;
  if (kind === "style") return [(data as StyleData).preview_asset_id].filter((x): x is string => !!x);
  if (kind === "voice") return [(data as VoiceData).sample_asset_id].filter((x): x is string => !!x);
  return [(data as MusicData).asset_id];
}
