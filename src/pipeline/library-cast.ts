/**
 * What a project's library options cast into its run: library characters playing the story's
 * characters (by subject_map, else by name or alias among subject_ids), a library style, and
 * library voices for characters and the narrator; and the project's attachments labelled
 * `character` (that character's reference) or `style` (pictures the art style follows). Items
 * deleted since the options were set are simply not cast.
 */
import type { CharacterData, VoiceData } from "../core/library-item.ts";
import {
  artStyleOf,
  asRefs,
  assetRefs,
  attachedPictures,
  itemsOfSpace,
  type LibraryRow,
  optionItems,
} from "../library/items.ts";
import type { ArtStyle, AssetRef, Voice } from "../story/material.ts";
import type { StepContext } from "./context.ts";

/** Who a story character is drawn and voiced as: a library character, or photos attached for it (itemId null). */
export interface Subject {
  itemId: string | null;
  description: string;
  references: AssetRef[];
  voice: CharacterData["voice"];
}

export async function libraryCast(ctx: StepContext) {
  const o = ctx.project.options;
  const { db } = ctx.deps;
  const spaceId = ctx.project.space_id;
  const items = await itemsOfSpace(
    db,
    spaceId,
    optionItems(o).map((n) => n.id),
  );
  const of = (id: string | undefined, kind: LibraryRow["kind"]) => {
    const r = id ? items.get(id) : undefined;
    return r && r.kind === kind ? r : undefined;
  };
  const subjects = (o.subject_ids ?? []).flatMap((id) => of(id, "character") ?? []);
  const attached = await attachedPictures(db, { projectId: ctx.project.id });
  const pictures = (which: (a: (typeof attached)[number]) => boolean): AssetRef[] => asRefs(attached.filter(which));
  /** Photos attached as this character's (by name or alias). */
  const photosOf = (c: { name: string; aliases: string[] }) =>
    pictures(
      (a) => a.label === "character" && !!a.metadata.character && [c.name, ...c.aliases].includes(a.metadata.character),
    );
  const stylePictures = pictures((a) => a.label === "style");

  /** The library character playing a story character, with its pictures read from the space's assets. */
  async function subjectFor(c: { name: string; aliases: string[] }): Promise<Subject | null> {
    const mapped = Object.hasOwn(o.subject_map ?? {}, c.name) ? of(o.subject_map![c.name], "character") : undefined;
    const row = mapped ?? subjects.find((s) => s.name === c.name || c.aliases.includes(s.name));
    if (!row) {
      const photos = photosOf(c);
      return photos.length > 0 ? { itemId: null, description: "", references: photos, voice: null } : null;
    }
    const d = row.data as CharacterData;
    return {
      itemId: row.id,
      description: [row.description, d.appearance].filter(Boolean).join(". "),
      references: await assetRefs(db, spaceId, d.reference_asset_ids),
      voice: d.voice,
    };
  }

  const voiceOf = (id: string | undefined, speed: number): Voice | null => {
    const r = of(id, "voice");
    if (!r) return null;
    const d = r.data as VoiceData;
    return { provider: d.provider, voice_id: d.voice_id, speed };
  };

  /** The art style: the library style (its preview a reference) or the preset, with the attached style pictures. */
  async function style(preset: ArtStyle): Promise<ArtStyle> {
    const r = of(o.style_id, "style");
    if (!r) return stylePictures.length > 0 ? { ...preset, references: stylePictures } : preset;
    return artStyleOf(db, spaceId, r, stylePictures);
  }

  return {
    subjectFor,
    style,
    characterVoice: (name: string, speed: number) =>
      voiceOf(Object.hasOwn(o.voice_ids?.characters ?? {}, name) ? o.voice_ids!.characters![name] : undefined, speed),
    narratorVoice: (speed: number) => voiceOf(o.voice_ids?.narrator, speed),
  };
}
