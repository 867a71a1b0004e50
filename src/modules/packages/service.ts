import type { Config } from "../../config.ts";
import { conflict, notFound, validation } from "../../core/errors.ts";
import type { Db } from "../../db/client.ts";
import type { PackageMetadata } from "../../db/types.ts";
import { regenerateJob, selectCharacterReference } from "../../pipeline/jobs.ts";
import {
  loadPackage,
  loadShots,
  newPackageVersion,
  saveNarratorVoice,
  savePackage,
  saveShot,
} from "../../pipeline/packages.ts";
import { queueTasks } from "../../pipeline/tasks.ts";
import type { ProviderResolver } from "../../providers/registry.ts";
import { tasksPayer } from "../../services/compute.ts";
import { conversationPage, logEdit } from "../../services/conversation.ts";
import { requirePackage as packageFor, requireProject } from "../../services/project-access.ts";
import { rewriteText } from "../../services/rewrite.ts";
import { type Steer, steering } from "../../services/steering.ts";
import { limitRequest } from "../../services/usage-limits.ts";
import type { Storage } from "../../storage/types.ts";
import { narratorVoice, type PackageContent, type ShotMaterial, type Voice } from "../../story/material.ts";
import { requireVoice } from "../../voices/library.ts";
import { fileLinks, materialsView } from "./view.ts";

export async function listPackages(db: Db, { userId, projectId }: { userId: string; projectId: string }) {
  const project = await requireProject(db, { userId, projectId }, "viewer");
  const rows = await db
    .selectFrom("packages")
    .select(["id", "version", "name", "parent_id", "storyline", "created_at", "updated_at"])
    .where("project_id", "=", projectId)
    .orderBy("version")
    .execute();
  return rows.map((p) => ({
    id: p.id,
    version: p.version,
    package_name: p.name,
    parent_id: p.parent_id,
    is_active: p.id === project.active_package_id,
    summary: p.storyline?.logline ?? null,
    created_at: p.created_at.toISOString(),
    updated_at: p.updated_at.toISOString(),
  }));
}

/** The stores a package view reads: rows and signed links. */
type Ctx = { db: Db; storage: Storage };

export async function getPackage({ db, storage }: Ctx, { userId, packageId }: { userId: string; packageId: string }) {
  const { project } = await packageFor(db, { userId, packageId }, "viewer");
  const pkg = await loadPackage(db, packageId);
  const shots = await loadShots(db, packageId);
  const meta = await db
    .selectFrom("packages")
    .select(["note", "metadata"])
    .where("id", "=", packageId)
    .executeTakeFirstOrThrow();
  return {
    id: pkg.id,
    project_id: pkg.project_id,
    version: pkg.version,
    package_name: pkg.name,
    note: meta.note,
    metadata: meta.metadata,
    is_active: project.active_package_id === pkg.id,
    materials: await materialsView(fileLinks(storage), pkg, shots, await voiceSamples(db, pkg, shots)),
  };
}

/** The provider's sample of every voice the package uses, by "provider/voice_id". */
async function voiceSamples(db: Db, pkg: PackageContent, shots: ShotMaterial[]) {
  const voices = [
    ...pkg.characters.map((c) => c.voice),
    ...shots.flatMap((s) => s.lines.map((l) => l.voice)),
    ...(pkg.storyline?.narrator_voice ? [pkg.storyline.narrator_voice] : []),
  ];
  const samples = new Map<string, string | null>();
  if (voices.length === 0) return samples;
  const rows = await db
    .selectFrom("voices")
    .select(["provider", "voice_id", "preview_url"])
    .where((eb) => eb.or(voices.map((v) => eb.and([eb("provider", "=", v.provider), eb("voice_id", "=", v.voice_id)]))))
    .execute();
  for (const r of rows) samples.set(`${r.provider}/${r.voice_id}`, r.preview_url);
  return samples;
}

export async function notWhileRunning(db: Db, projectId: string) {
  // An episode's run writes the episode's own copy of the cast: the season's may be edited meanwhile.
  const busy = await db
    .selectFrom("runs")
    .select("id")
    .where("project_id", "=", projectId)
    .where("episode_id", "is", null)
    .where("status", "in", ["queued", "running"])
    .executeTakeFirst();
  if (busy) throw conflict("a run is in progress; wait for it or cancel it", { run_id: busy.id });
}

/** Makes a package the one the timeline, edits and exports use. */
export async function switchPackage(
  { db, storage }: Ctx,
  { userId, packageId }: { userId: string; packageId: string },
) {
  const { project } = await packageFor(db, { userId, packageId }, "editor");
  await notWhileRunning(db, project.id);
  await db
    .updateTable("projects")
    .set({ active_package_id: packageId, updated_at: new Date() })
    .where("id", "=", project.id)
    .execute();
  await logEdit(
    db,
    { projectId: project.id, packageId, userId },
    {
      asked: "Switch to this version",
      answered: "This version is now the one the timeline, edits and exports use.",
      action: { action: "switch_package", id: packageId },
    },
  );
  return getPackage({ db, storage }, { userId, packageId });
}

export async function renamePackage(
  { db, storage }: Ctx,
  { userId, packageId }: { userId: string; packageId: string },
  name: string,
) {
  const { project } = await packageFor(db, { userId, packageId }, "editor");
  await db.updateTable("packages").set({ name, updated_at: new Date() }).where("id", "=", packageId).execute();
  await logEdit(
    db,
    { projectId: project.id, packageId, userId },
    {
      asked: `Rename this version to "${name}"`,
      answered: `Renamed to "${name}".`,
      action: { action: "rename_package", id: packageId },
    },
  );
  return getPackage({ db, storage }, { userId, packageId });
}

/** A copy of the package as a new version (the copy becomes active). */
export async function saveAsNew(
  db: Db,
  { userId, packageId }: { userId: string; packageId: string },
  body: { package_name?: string; note?: string; metadata?: PackageMetadata } = {},
) {
  const name = body.package_name;
  const { project } = await packageFor(db, { userId, packageId }, "editor");
  await notWhileRunning(db, project.id);
  const id = await db.transaction().execute(async (trx) => {
    const created = await newPackageVersion(trx, { projectId: project.id, fromPackageId: packageId }, name);
    await trx
      .updateTable("packages")
      .set({ note: body.note ?? "", metadata: JSON.stringify(body.metadata ?? {}) })
      .where("id", "=", created)
      .execute();
    await trx
      .updateTable("projects")
      .set({ active_package_id: created, updated_at: new Date() })
      .where("id", "=", project.id)
      .execute();
    return created;
  });
  const row = await db.selectFrom("packages").select("version").where("id", "=", id).executeTakeFirstOrThrow();
  await logEdit(
    db,
    { projectId: project.id, packageId: id, userId },
    {
      asked: `Save version ${row.version}${name ? ` "${name}"` : ""}${body.note ? `: ${body.note}` : ""}`,
      answered: `Saved as version ${row.version}; it is now the active one.`,
      action: { action: "save_new", id },
    },
  );
  return { new_package_id: id, version: row.version };
}

/** A voice to give: its id, and the provider and speed when they change. */
export type VoiceChange = { voice_id: string; provider?: string; speed?: number };

/**
 * Gives a character (or the narrator, `character: null`) another voice in the caller's
 * transaction: the package's character (or narrator voice) and every line they speak take it, and
 * those lines are marked stale. Returns how many lines changed.
 */
export async function giveVoice(
  trx: Db,
  { packageId, pkg }: { packageId: string; pkg: PackageContent },
  character: string | null,
  next: VoiceChange,
) {
  const change = (v: Voice): Voice => ({
    provider: next.provider ?? v.provider,
    voice_id: next.voice_id,
    speed: next.speed ?? v.speed,
  });
  const shots = await loadShots(trx, packageId);
  await savePackage(trx, packageId, {
    characters: pkg.characters.map((c) => (c.name === character ? { ...c, voice: change(c.voice) } : c)),
  });
  // The narrator's voice on the package: new narration lines (a storyboard redone) get it too.
  const narration =
    character === null
      ? (narratorVoice(pkg) ?? shots.flatMap((s) => s.lines).find((l) => l.kind === "narration")?.voice)
      : undefined;
  if (narration) await saveNarratorVoice(trx, packageId, change(narration));
  const speaks = (l: ShotMaterial["lines"][number]) =>
    character === null ? l.kind === "narration" : l.speaker === character;
  let changed = 0;
  for (const shot of shots) {
    if (!shot.lines.some(speaks)) continue;
    const lines = shot.lines.map((l) => (speaks(l) ? { ...l, voice: change(l.voice) } : l));
    changed += lines.filter(speaks).length;
    await saveShot(trx, packageId, { ...shot, lines, stale: [...new Set([...shot.stale, "voice" as const])] });
  }
  return changed;
}

/**
 * Gives a character (or the narrator, `character: null`) another voice: every line they speak in
 * the package takes it and is marked stale, to be spoken again by the next export.
 */
export async function switchVoice(
  db: Db,
  { userId, packageId, voiceId }: { userId: string; packageId: string; voiceId: string },
  character: string | null,
  speed?: number,
) {
  const { project } = await packageFor(db, { userId, packageId }, "editor");
  await notWhileRunning(db, project.id);
  const pkg = await loadPackage(db, packageId);
  if (character !== null && !pkg.characters.some((c) => c.name === character)) throw notFound("character");
  // The voice must be in the library of the speech provider the voice is for (when that library is known).
  const narration =
    character === null
      ? (narratorVoice(pkg) ??
        (await loadShots(db, packageId)).flatMap((s) => s.lines).find((l) => l.kind === "narration")?.voice)
      : undefined;
  const current = character === null ? narration : pkg.characters.find((c) => c.name === character)!.voice;
  if (current?.provider) await requireVoice(db, { provider: current.provider, voiceId });
  const changed = await db
    .transaction()
    .execute((trx) => giveVoice(trx, { packageId, pkg }, character, { voice_id: voiceId, speed }));
  await logEdit(
    db,
    { projectId: project.id, packageId, userId },
    {
      asked: `Give ${character ?? "the narrator"} the voice ${voiceId}${speed ? ` at ${speed}×` : ""}`,
      answered: `${changed} line${changed === 1 ? "" : "s"} will be spoken again with it by the next export.`,
      action: {
        action: "switch_voice",
        ...(character ? { element: "character", id: character } : { element: "narrator" }),
      },
    },
  );
  return { character, voice_id: voiceId, lines_changed: changed };
}

const TEXT_FIELDS = {
  storyline: ["title", "logline", "summary", "tone", "genre"],
  art_style: ["name", "prompt"],
  character: ["name", "description", "personality"],
  scene: ["location", "summary"],
  shot: ["description"],
  line: ["text"],
} as const;
type TextElement = keyof typeof TEXT_FIELDS;
type TextEdit = { element: TextElement; id?: string; field: string };

/** The text a field holds now (404 for an element that is not there). */
function currentText(pkg: PackageContent, shots: ShotMaterial[], e: TextEdit): string {
  const holder: object | null | undefined =
    e.element === "storyline"
      ? pkg.storyline
      : e.element === "art_style"
        ? pkg.art_style
        : e.element === "character"
          ? pkg.characters.find((c) => c.name === e.id)
          : e.element === "scene"
            ? pkg.scenes.find((s) => s.id === e.id)
            : e.element === "shot"
              ? shots.find((s) => s.id === e.id)
              : shots.flatMap((s) => s.lines).find((l) => l.id === e.id);
  if (!holder) {
    if (e.element === "storyline" || e.element === "art_style") throw conflict(`the package has no ${e.element} yet`);
    throw notFound(e.element);
  }
  return String((holder as Record<string, unknown>)[e.field] ?? "");
}

const staleWith = (s: ShotMaterial, what: ShotMaterial["stale"][number]) => [...new Set([...s.stale, what])];

/**
 * Writes a field's new text, with what it makes out of date: a shot's description or the art
 * style's prompt its keyframes, a line's text its voice; a character's new name follows it into
 * every shot and line (and its shots' keyframes, which are drawn with the name).
 */
async function applyText(
  trx: Db,
  { packageId, pkg, shots }: { packageId: string; pkg: PackageContent; shots: ShotMaterial[] },
  e: TextEdit,
  value: string,
) {
  if (e.element === "storyline") {
    await savePackage(trx, packageId, { storyline: { ...pkg.storyline!, [e.field]: value } });
  } else if (e.element === "art_style") {
    await savePackage(trx, packageId, { art_style: { ...pkg.art_style!, [e.field]: value } });
    if (e.field === "prompt")
      for (const shot of shots) await saveShot(trx, packageId, { ...shot, stale: staleWith(shot, "keyframe") });
  } else if (e.element === "character" && e.field === "name") {
    if ([...value].length > 60) throw validation([{ path: "/value", message: "a name is at most 60 characters" }]);
    if (pkg.characters.some((c) => c.name === value && c.name !== e.id))
      throw conflict(`there is already a character named "${value}"`);
    const rename = (n: string | null) => (n === e.id ? value : n);
    await savePackage(trx, packageId, {
      characters: pkg.characters.map((c) => (c.name === e.id ? { ...c, name: value } : c)),
    });
    for (const shot of shots) {
      const appears = shot.characters.includes(e.id!) || shot.lines.some((l) => l.speaker === e.id);
      if (!appears) continue;
      await saveShot(trx, packageId, {
        ...shot,
        characters: shot.characters.map((n) => rename(n)!),
        lines: shot.lines.map((l) => ({ ...l, speaker: rename(l.speaker) })),
        stale: shot.characters.includes(e.id!) ? staleWith(shot, "keyframe") : shot.stale,
      });
    }
  } else if (e.element === "character") {
    await savePackage(trx, packageId, {
      characters: pkg.characters.map((c) => (c.name === e.id ? { ...c, [e.field]: value } : c)),
    });
  } else if (e.element === "scene") {
    await savePackage(trx, packageId, {
      scenes: pkg.scenes.map((s) => (s.id === e.id ? { ...s, [e.field]: value } : s)),
    });
  } else if (e.element === "shot") {
    const shot = shots.find((s) => s.id === e.id)!;
    await saveShot(trx, packageId, { ...shot, description: value, stale: staleWith(shot, "keyframe") });
  } else {
    const shot = shots.find((s) => s.lines.some((l) => l.id === e.id))!;
    // A new text is spoken by us: the creator's own recording of the old one goes.
    const lines = shot.lines.map((l) => (l.id === e.id ? { ...l, text: value, custom_audio: false } : l));
    await saveShot(trx, packageId, { ...shot, lines, stale: staleWith(shot, "voice") });
  }
}

/** What an edit makes out of date, as the conversation log tells it. */
function editAnswer(e: TextEdit, target: string, value: string, instructed: boolean): string {
  const changed = instructed
    ? `Changed the ${e.field} of ${target} to: ${value}`
    : `Changed the ${e.field} of ${target}.`;
  if (e.element === "shot") return `${changed} Its keyframe is redrawn by the next export.`;
  if (e.element === "line") return `${changed} It is spoken again by the next export.`;
  if (e.element === "art_style" && e.field === "prompt")
    return `${changed} Every keyframe is redrawn by the next export.`;
  return changed;
}

/**
 * Edits one text field of a storyline, the art style, a character, scene, shot or line: to
 * `value`, or as the text model rewrites it following `instruction` (that field alone is sent).
 */
export async function modifyText(
  { db, storage, providers }: Ctx & { providers: ProviderResolver },
  { userId, packageId }: { userId: string; packageId: string },
  e: TextEdit & { value?: string; instruction?: string },
) {
  const { project } = await packageFor(db, { userId, packageId }, "editor");
  await notWhileRunning(db, project.id);
  if (!(TEXT_FIELDS[e.element] as readonly string[]).includes(e.field)) {
    throw validation([
      { path: "/field", message: `${e.element} text fields are ${TEXT_FIELDS[e.element].join(", ")}` },
    ]);
  }
  if ((e.value === undefined) === (e.instruction === undefined))
    throw validation([{ path: "/value", message: "send either value (the new text) or instruction, not both" }]);
  const current = currentText(await loadPackage(db, packageId), await loadShots(db, packageId), e);
  const value =
    e.value ??
    (await rewriteText(
      (
        await providers.forScope({ userId, spaceId: project.space_id, projectId: project.id, stage: "edit_text" })
      ).text,
      { element: e.element, id: e.id, field: e.field, current, instruction: e.instruction! },
    ));
  // The package and its shots are read again under the transaction: a rewrite takes seconds.
  await db.transaction().execute(async (trx) => {
    const pkg = await loadPackage(trx, packageId);
    const shots = await loadShots(trx, packageId);
    currentText(pkg, shots, e);
    await applyText(trx, { packageId, pkg, shots }, e, value);
  });
  const target = e.element === "storyline" || e.element === "art_style" ? `the ${e.element}` : `${e.element} ${e.id}`;
  await logEdit(
    db,
    { projectId: project.id, packageId, userId },
    {
      asked: e.instruction
        ? `Rewrite the ${e.field} of ${target}: ${e.instruction}`
        : `Set the ${e.field} of ${target} to: ${value}`,
      answered: editAnswer(e, target, value, e.instruction !== undefined),
      action: { action: "modify_text", element: e.element, id: e.id, field: e.field },
    },
  );
  return getPackage({ db, storage }, { userId, packageId });
}

/** Queues a new candidate image for a character's reference sheet, a scene or a shot's keyframe (202). */
export async function regenerateImage(
  deps: { db: Db; config: Config; providers: ProviderResolver },
  { userId, packageId }: { userId: string; packageId: string },
  { element, id }: { element: "character" | "scene" | "shot"; id: string },
  steer: Steer = {},
) {
  const { db } = deps;
  const { project } = await packageFor(db, { userId, packageId }, "editor");
  await notWhileRunning(db, project.id);
  await limitRequest(deps, { userId, metric: "retries_per_hour" });
  const pkg = await loadPackage(db, packageId);
  const exists =
    element === "character"
      ? pkg.characters.some((c) => c.name === id)
      : element === "scene"
        ? pkg.scenes.some((s) => s.id === id)
        : (await loadShots(db, packageId)).some((s) => s.id === id);
  if (!exists) throw notFound(element);
  const what = element === "character" ? "reference" : element === "scene" ? "scene_image" : "keyframe";
  const kind = element === "character" ? "character_image" : element === "scene" ? "scene_image" : "keyframe";
  const { job, params, pin } = await steering(deps, { projectId: project.id, capability: "image" }, steer);
  const payer = await tasksPayer(deps, { userId, spaceId: project.space_id, pin });
  const { tasks } = await queueTasks(
    db,
    { projectId: project.id, packageId, userId },
    [
      {
        kind,
        target: { type: element === "shot" ? "clip" : element, id },
        params,
        job: regenerateJob({
          project_id: project.id,
          package_id: packageId,
          target: id,
          what,
          user_id: userId,
          ...job,
        }),
      },
    ],
    undefined,
    payer.pay,
  );
  return {
    task_ids: tasks.map((t) => t.id),
    job_ids: tasks.map((t) => t.job_id!),
    generation_status: "pending" as const,
    compute: payer.reserved(),
  };
}

/** Selects one of a character's reference sheets or a scene's pictures. */
export async function selectImage(
  { db, storage }: Ctx,
  { userId, packageId, assetId }: { userId: string; packageId: string; assetId: string },
  { element, id }: { element: "character" | "scene"; id: string },
) {
  const { project } = await packageFor(db, { userId, packageId }, "editor");
  await notWhileRunning(db, project.id);
  const pkg = await loadPackage(db, packageId);
  if (element === "character") {
    const c = pkg.characters.find((x) => x.name === id);
    const ref = c?.candidates?.find((r) => r.asset_id === assetId);
    if (!c || !ref) throw notFound("candidate");
    if (c.reference?.asset_id !== assetId) await selectCharacterReference(db, { packageId, character: c.name }, ref);
  } else {
    const s = pkg.scenes.find((x) => x.id === id);
    const ref = s?.candidates?.find((r) => r.asset_id === assetId);
    if (!s || !ref) throw notFound("candidate");
    await savePackage(db, packageId, { scenes: pkg.scenes.map((x) => (x.id === id ? { ...x, image: ref } : x)) });
  }
  await logEdit(
    db,
    { projectId: project.id, packageId, userId },
    {
      asked: `Use image ${assetId} for ${element} ${id}`,
      answered:
        element === "character"
          ? `${id} now looks like that image; the keyframes of their shots are redrawn by the next export.`
          : `Scene ${id} uses that image.`,
      action: { action: "select_image", element, id },
    },
  );
  return getPackage({ db, storage }, { userId, packageId });
}

/** A page of a project's conversation log, newest first. */
export async function projectConversation(
  db: Db,
  { userId, projectId }: { userId: string; projectId: string },
  q: { page?: number; page_size?: number },
) {
  await requireProject(db, { userId, projectId }, "viewer");
  return conversationPage(db, projectId, q.page ?? 1, q.page_size ?? 20);
}

/**
 * The voices a character (or the narrator, `character` absent) can be given: the library of the
 * speech provider their voice is from, voices of their gender first, the current one marked, each
 * with the provider's sample when it has one. Choosing one is POST …/switch-voice.
 */
export async function voiceCandidates(
  db: Db,
  { userId, packageId }: { userId: string; packageId: string },
  character: string | undefined,
) {
  await packageFor(db, { userId, packageId }, "viewer");
  const pkg = await loadPackage(db, packageId);
  const who = character === undefined ? null : pkg.characters.find((c) => c.name === character);
  if (character !== undefined && !who) throw notFound("character");
  const current =
    who?.voice ??
    narratorVoice(pkg) ??
    (await loadShots(db, packageId)).flatMap((s) => s.lines).find((l) => l.kind === "narration")?.voice;
  if (!current) return { character: character ?? null, provider: null, current_voice_id: null, voices: [] };
  const rows = await db
    .selectFrom("voices")
    .select(["voice_id", "name", "gender", "age", "language", "description", "preview_url"])
    .where("provider", "=", current.provider)
    .orderBy("name")
    .orderBy("voice_id")
    .execute();
  const gender = who?.gender === "male" || who?.gender === "female" ? who.gender : null;
  const rank = (r: (typeof rows)[number]) =>
    r.voice_id === current.voice_id ? 0 : gender && r.gender === gender ? 1 : 2;
  const voices = rows
    .map((r) => ({ ...r, selected: r.voice_id === current.voice_id }))
    .sort((a, b) => rank(a) - rank(b));
  return { character: character ?? null, provider: current.provider, current_voice_id: current.voice_id, voices };
}
