import { t } from "elysia";
import { MusicSettingsFields, StaleList } from "../../schemas/music.ts";
import type { Storage } from "../../storage/types.ts";
import { FILTERS } from "../../story/edit.ts";
import type {
  AssetRef,
  Candidates,
  CharacterMaterial,
  LineMaterial,
  MusicMaterial,
  PackageContent,
  SceneMaterial,
  ShotMaterial,
} from "../../story/material.ts";
import {
  CAMERAS,
  CharacterSchema,
  MOOD_VALUES,
  SceneSchema,
  ShotSchema,
  SPECIES,
  type Storyline,
  StorylineSchema,
  TIMES_OF_DAY,
  TRANSITIONS,
} from "../../story/schemas.ts";

const URL_TTL_S = 3600;

/**
 * A package's materials as a client needs them (seed 003 §3.3): every file a signed, expiring URL
 * with its asset id, candidates listed with the selected one marked; no storage keys or digests.
 */
export interface FileLinks {
  /** Signed URLs by storage key, made once per read. */
  url(ref: AssetRef): Promise<string>;
  readonly expiresAt: Date;
}

export function fileLinks(storage: Storage): FileLinks {
  const made = new Map<string, Promise<string>>();
  const expiresAt = new Date(Date.now() + URL_TTL_S * 1000);
  return {
    expiresAt,
    url(ref) {
      let u = made.get(ref.storage_key);
      if (!u) {
        u = storage.signedUrl(ref.storage_key, URL_TTL_S).then((s) => s.url);
        made.set(ref.storage_key, u);
      }
      return u;
    },
  };
}

const file = async (links: FileLinks, ref: AssetRef) => ({
  asset_id: ref.asset_id,
  url: await links.url(ref),
  mime_type: ref.mime_type,
});

async function candidates(links: FileLinks, refs: AssetRef[], selectedId: string | null | undefined) {
  return Promise.all(refs.map(async (r) => ({ ...(await file(links, r)), selected: r.asset_id === selectedId })));
}

const fromCandidates = (links: FileLinks, c: Candidates) =>
  candidates(links, c.candidates, c.selected === null ? null : c.candidates[c.selected]?.asset_id);

async function characterView(links: FileLinks, c: CharacterMaterial, samples: Map<string, string | null>) {
  const { reference, candidates: refs, voice, ...character } = c;
  return {
    ...character,
    // Packages made before characters had a species hold people.
    species: character.species ?? "human",
    voice: { ...voice, sample_url: samples.get(`${voice.provider}/${voice.voice_id}`) ?? null },
    images: await candidates(links, refs, reference?.asset_id),
    image_url: reference ? await links.url(reference) : null,
  };
}

async function sceneView(links: FileLinks, s: SceneMaterial) {
  const { image, candidates: refs, ...scene } = s;
  return {
    ...scene,
    images: await candidates(links, refs, image?.asset_id),
    image_url: image ? await links.url(image) : null,
  };
}

async function lineView(links: FileLinks, l: LineMaterial) {
  const { audio, ...line } = l;
  return { ...line, audio_url: audio ? await links.url(audio) : null, audio_duration_s: audio?.duration_s ?? null };
}

async function shotView(links: FileLinks, s: ShotMaterial) {
  const { keyframe, clip, lines, ...shot } = s;
  return {
    ...shot,
    lines: await Promise.all(lines.map((l) => lineView(links, l))),
    keyframes: await fromCandidates(links, keyframe),
    clips: await fromCandidates(links, clip),
  };
}

async function musicView(links: FileLinks, m: MusicMaterial | null) {
  if (!m) return null;
  const { asset, ...music } = m;
  return { ...music, url: asset ? await links.url(asset) : null };
}

export async function materialsView(
  links: FileLinks,
  pkg: PackageContent,
  shots: ShotMaterial[],
  samples: Map<string, string | null>,
) {
  const narrator = pkg.storyline?.narrator_voice;
  let storyline: Storyline | null = null;
  if (pkg.storyline) {
    const { narrator_voice: _, ...rest } = pkg.storyline;
    storyline = rest;
  }
  return {
    storyline,
    narrator_voice: narrator
      ? { ...narrator, sample_url: samples.get(`${narrator.provider}/${narrator.voice_id}`) ?? null }
      : null,
    art_style: pkg.art_style,
    characters: await Promise.all(pkg.characters.map((c) => characterView(links, c, samples))),
    scenes: await Promise.all(pkg.scenes.map((s) => sceneView(links, s))),
    shots: await Promise.all(shots.map((s) => shotView(links, s))),
    music: await musicView(links, pkg.music),
    urls_expire_at: links.expiresAt.toISOString(),
  };
}

// The response schema of the view above.
const FileView = t.Object({ asset_id: t.String({ format: "uuid" }), url: t.String(), mime_type: t.String() });
const CandidateView = t.Object({ ...FileView.properties, selected: t.Boolean() });
const { narration: _n, dialogue: _d, ...shotProperties } = ShotSchema.properties;
const VoiceView = t.Object({
  provider: t.String(),
  voice_id: t.String(),
  speed: t.Number(),
  sample_url: t.Nullable(t.String({ description: "The provider's sample of the voice, when it has one" })),
});
const EditConfigView = t.Object({
  crop: t.Optional(t.Nullable(t.Object({ x: t.Number(), y: t.Number(), w: t.Number(), h: t.Number() }))),
  zoom: t.Optional(t.Number()),
  pan: t.Optional(t.Object({ x: t.Number(), y: t.Number() })),
  rotation: t.Optional(t.Number()),
  filter: t.Optional(t.Nullable(t.Object({ name: t.UnionEnum(FILTERS), intensity: t.Number() }))),
});

export const MaterialsSchema = t.Object({
  storyline: t.Nullable(StorylineSchema),
  narrator_voice: t.Nullable(VoiceView),
  art_style: t.Nullable(
    t.Object({
      name: t.String(),
      prompt: t.String(),
      palette: t.Array(t.String()),
      monochrome: t.Optional(t.Boolean()),
    }),
  ),
  characters: t.Array(
    t.Object({
      ...CharacterSchema.properties,
      role: t.UnionEnum(["protagonist", "antagonist", "supporting", "minor"]),
      gender: t.UnionEnum(["male", "female", "unknown"]),
      age: t.UnionEnum(["child", "young", "adult", "elder", "unknown"]),
      species: t.UnionEnum(SPECIES),
      voice: VoiceView,
      images: t.Array(CandidateView),
      image_url: t.Nullable(t.String()),
    }),
  ),
  scenes: t.Array(
    t.Object({
      ...SceneSchema.properties,
      timeOfDay: t.UnionEnum(TIMES_OF_DAY),
      mood: t.UnionEnum(MOOD_VALUES),
      images: t.Array(CandidateView),
      image_url: t.Nullable(t.String()),
    }),
  ),
  shots: t.Array(
    t.Object({
      ...shotProperties,
      camera: t.UnionEnum(CAMERAS),
      transition: t.UnionEnum(TRANSITIONS),
      lines: t.Array(
        t.Object({
          id: t.String(),
          kind: t.Union([t.Literal("narration"), t.Literal("dialogue")]),
          speaker: t.Nullable(t.String()),
          text: t.String(),
          voice: t.Object({ provider: t.String(), voice_id: t.String(), speed: t.Number() }),
          volume: t.Number(),
          audio_url: t.Nullable(t.String()),
          audio_duration_s: t.Nullable(t.Number()),
        }),
      ),
      keyframes: t.Array(CandidateView),
      clips: t.Array(CandidateView),
      edit: t.Nullable(EditConfigView),
      stale: StaleList,
    }),
  ),
  music: t.Nullable(
    t.Object({
      ...MusicSettingsFields,
      url: t.Nullable(t.String()),
    }),
  ),
  urls_expire_at: t.String({ format: "date-time" }),
});
