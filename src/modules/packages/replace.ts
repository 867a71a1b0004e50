/**
 * Replacing a package's character, art style, voice or music with a library item (seed 003
 * §3.4.5), marking stale exactly what was made from the old one.
 */
import { notFound, validation } from "../../core/errors.ts";
import type { CharacterData, LibraryKind, MusicData, VoiceData } from "../../core/library-item.ts";
import type { Db } from "../../db/client.ts";
import {
  artStyleOf,
  asRefs,
  assetRefs,
  attachedPictures,
  itemsOfSpace,
  type LibraryRow,
  recordUses,
} from "../../library/items.ts";
import { loadPackage, loadShots, savePackage, saveShot } from "../../pipeline/packages.ts";
import { logEdit } from "../../services/conversation.ts";
import { requirePackage } from "../../services/project-access.ts";
import { type CharacterMaterial, type PackageContent, type ShotMaterial, withTrack } from "../../story/material.ts";
import { giveVoice, notWhileRunning } from "./service.ts";

export const REPLACE_TARGETS = ["character", "style", "voice", "bgm"] as const;
export type ReplaceTarget = (typeof REPLACE_TARGETS)[number];
const KIND_OF: Record<ReplaceTarget, LibraryKind> = {
  character: "character",
  style: "style",
  voice: "voice",
  bgm: "music",
};

/** What a replacement made out of date: keyframes to redraw, lines to speak again, the soundtrack to mix again. */
interface Staled {
  keyframes: number;
  lines: number;
  soundtrack: boolean;
}

/** Marks the keyframe of each of these shots stale (a shot without a keyframe yet has nothing to redraw). */
async function staleKeyframes(trx: Db, packageId: string, shots: ShotMaterial[]) {
  let n = 0;
  for (const shot of shots) {
    if (shot.keyframe.selected === null || shot.stale.includes("keyframe")) continue;
    await saveShot(trx, packageId, { ...shot, stale: [...shot.stale, "keyframe"] });
    n++;
  }
  return n;
}

type Apply = (trx: Db, at: { packageId: string; spaceId: string; pkg: PackageContent }) => Promise<Staled>;

/**
 * A library character plays a story character: its description and appearance, its pictures as
 * the references (the first one selected) and its default voice. The character's shots get stale
 * keyframes; its lines, when the voice changes, stale voices.
 */
function castCharacter(item: LibraryRow, name: string): Apply {
  return async (trx, { packageId, spaceId, pkg }) => {
    const c = pkg.characters.find((x) => x.name === name);
    if (!c) throw notFound("character");
    const d = item.data as CharacterData;
    const pictures = await assetRefs(trx, spaceId, d.reference_asset_ids);
    const { references: _old, ...rest } = c;
    const next: CharacterMaterial = {
      ...rest,
      library_item_id: item.id,
      description: [item.description, d.appearance].filter(Boolean).join(". ") || c.description,
      ...(d.personality ? { personality: d.personality } : {}),
      ...(pictures.length > 0 ? { references: pictures } : {}),
      reference: pictures[0] ?? c.reference,
      candidates: pictures[0]
        ? [...c.candidates.filter((r) => r.asset_id !== pictures[0]!.asset_id), pictures[0]]
        : c.candidates,
    };
    const characters = pkg.characters.map((x) => (x.name === name ? next : x));
    await savePackage(trx, packageId, { characters });
    const shots = await loadShots(trx, packageId);
    const keyframes = await staleKeyframes(
      trx,
      packageId,
      shots.filter((s) => s.characters.includes(name)),
    );
    const sameVoice = !d.voice || (d.voice.provider === c.voice.provider && d.voice.voice_id === c.voice.voice_id);
    const lines = sameVoice ? 0 : await giveVoice(trx, { packageId, pkg: { ...pkg, characters } }, name, d.voice!);
    return { keyframes, lines, soundtrack: false };
  };
}

/** A library style becomes the art style (its preview and the attached style pictures its references): every keyframe is stale. */
function useStyle(item: LibraryRow, projectId: string): Apply {
  return async (trx, { packageId, spaceId }) => {
    const attached = asRefs((await attachedPictures(trx, { projectId })).filter((a) => a.label === "style"));
    await savePackage(trx, packageId, { art_style: await artStyleOf(trx, spaceId, item, attached) });
    return {
      keyframes: await staleKeyframes(trx, packageId, await loadShots(trx, packageId)),
      lines: 0,
      soundtrack: false,
    };
  };
}

/** A library voice for a character (or the narrator, `name` null): their lines are stale. */
function useVoice(item: LibraryRow, name: string | null): Apply {
  return async (trx, { packageId, pkg }) => {
    if (name !== null && !pkg.characters.some((c) => c.name === name)) throw notFound("character");
    const d = item.data as VoiceData;
    const lines = await giveVoice(trx, { packageId, pkg }, name, { provider: d.provider, voice_id: d.voice_id });
    return { keyframes: 0, lines, soundtrack: false };
  };
}

/** A library track becomes the background music (the old one stays a candidate): the next export mixes it. */
function useTrack(item: LibraryRow): Apply {
  return async (trx, { packageId, spaceId, pkg }) => {
    const [track] = await assetRefs(trx, spaceId, [(item.data as MusicData).asset_id]);
    if (!track) throw notFound("the library track's file");
    await savePackage(trx, packageId, { music: withTrack(pkg.music, track) });
    return { keyframes: 0, lines: 0, soundtrack: true };
  };
}

/**
 * Replaces a character (`element_id` its name), the art style, a voice (`element_id` the
 * character's name, absent for the narrator) or the background music with an item of the
 * project's library. The item's use is counted in the same transaction; what was made from the
 * old material is marked stale and remade by the next export.
 */
export async function replaceFromLibrary(
  db: Db,
  { userId, packageId, itemId }: { userId: string; packageId: string; itemId: string },
  { target, element_id }: { target: ReplaceTarget; element_id?: string },
) {
  const { project } = await requirePackage(db, { userId, packageId }, "editor");
  await notWhileRunning(db, project.id);
  const kind = KIND_OF[target];
  const item = (await itemsOfSpace(db, project.space_id, [itemId])).get(itemId);
  if (!item || item.kind !== kind) throw notFound(`library ${kind}`);
  if (target === "character" && element_id === undefined)
    throw validation([{ path: "/element_id", message: "name the character the library character plays" }]);
  if ((target === "style" || target === "bgm") && element_id !== undefined)
    throw validation([{ path: "/element_id", message: `a package has one ${target}: leave element_id out` }]);
  const apply =
    target === "character"
      ? castCharacter(item, element_id!)
      : target === "style"
        ? useStyle(item, project.id)
        : target === "voice"
          ? useVoice(item, element_id ?? null)
          : useTrack(item);
  const staled = await db.transaction().execute(async (trx) => {
    // The package row is locked first: two replacements of one package apply one after the other.
    await trx.selectFrom("packages").select("id").where("id", "=", packageId).forUpdate().execute();
    const pkg = await loadPackage(trx, packageId);
    const result = await apply(trx, { packageId, spaceId: project.space_id, pkg });
    await recordUses(trx, { projectId: project.id }, [item.id]);
    return result;
  });
  const whom = target === "voice" ? `${element_id ?? "the narrator"}'s voice` : (element_id ?? `the ${target}`);
  await logEdit(
    db,
    { projectId: project.id, packageId, userId },
    {
      asked: `Replace ${whom} with the library ${kind} "${item.name}"`,
      answered: [
        `${whom} is now "${item.name}".`,
        staled.keyframes > 0 ? `${staled.keyframes} keyframe(s) are redrawn by the next export.` : "",
        staled.lines > 0 ? `${staled.lines} line(s) are spoken again by the next export.` : "",
        staled.soundtrack ? "The next export plays the new track." : "",
      ]
        .filter(Boolean)
        .join(" "),
      action: { action: "replace_from_library", element: target, ...(element_id ? { id: element_id } : {}) },
    },
  );
  return {
    target,
    element_id: element_id ?? null,
    library_item_id: item.id,
    stale: { keyframes: staled.keyframes, lines: staled.lines, soundtrack: staled.soundtrack },
  };
}
