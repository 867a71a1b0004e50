import { conflict, notFound, validation } from "../../core/errors.ts";
import type { Db } from "../../db/client.ts";
import { PIPELINE_QUEUE, type RegeneratePayload, selectCharacterReference } from "../../pipeline/jobs.ts";
import {
  loadPackage,
  loadShots,
  newPackageVersion,
  saveNarratorVoice,
  savePackage,
  saveShot,
} from "../../pipeline/packages.ts";
import { enqueue } from "../../queue/index.ts";
import { requireProject } from "../../services/project-access.ts";
import { narratorVoice, type ShotMaterial } from "../../story/material.ts";
import { requireVoice } from "../../voices/library.ts";

async function packageFor(
  db: Db,
  { userId, packageId }: { userId: string; packageId: string },
  role: "viewer" | "editor",
) {
  const row = await db
    .selectFrom("packages")
    .select(["id", "project_id"])
    .where("id", "=", packageId)
    .executeTakeFirst();
  if (!row) throw notFound("material package");
  const project = await requireProject(db, { userId, projectId: row.project_id }, role).catch((e: unknown) => {
    throw (e as { code?: string }).code === "NOT_FOUND" ? notFound("material package") : e;
  });
  return { project, packageId: row.id };
}

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

export async function getPackage(db: Db, { userId, packageId }: { userId: string; packageId: string }) {
  const { project } = await packageFor(db, { userId, packageId }, "viewer");
  const pkg = await loadPackage(db, packageId);
  const shots = await loadShots(db, packageId);
  return {
    id: pkg.id,
    project_id: pkg.project_id,
    version: pkg.version,
    package_name: pkg.name,
    is_active: project.active_package_id === pkg.id,
    materials: {
      storyline: pkg.storyline,
      art_style: pkg.art_style,
      characters: pkg.characters,
      scenes: pkg.scenes,
      shots,
      music: pkg.music,
    },
  };
}

async function notWhileRunning(db: Db, projectId: string) {
  const busy = await db
    .selectFrom("runs")
    .select("id")
    .where("project_id", "=", projectId)
    .where("status", "in", ["queued", "running"])
    .executeTakeFirst();
  if (busy) throw conflict("a run is in progress; wait for it or cancel it", { run_id: busy.id });
}

/** Makes a package the one the timeline, edits and exports use. */
export async function switchPackage(db: Db, { userId, packageId }: { userId: string; packageId: string }) {
  const { project } = await packageFor(db, { userId, packageId }, "editor");
  await notWhileRunning(db, project.id);
  await db
    .updateTable("projects")
    .set({ active_package_id: packageId, updated_at: new Date() })
    .where("id", "=", project.id)
    .execute();
  return getPackage(db, { userId, packageId });
}

export async function renamePackage(
  db: Db,
  { userId, packageId }: { userId: string; packageId: string },
  name: string,
) {
  await packageFor(db, { userId, packageId }, "editor");
  await db.updateTable("packages").set({ name, updated_at: new Date() }).where("id", "=", packageId).execute();
  return getPackage(db, { userId, packageId });
}

/** A copy of the package as a new version (the copy becomes active). */
export async function saveAsNew(db: Db, { userId, packageId }: { userId: string; packageId: string }, name?: string) {
  const { project } = await packageFor(db, { userId, packageId }, "editor");
  await notWhileRunning(db, project.id);
  const id = await db.transaction().execute(async (trx) => {
    const created = await newPackageVersion(trx, { projectId: project.id, fromPackageId: packageId }, name);
    await trx
      .updateTable("projects")
      .set({ active_package_id: created, updated_at: new Date() })
      .where("id", "=", project.id)
      .execute();
    return created;
  });
  const row = await db.selectFrom("packages").select("version").where("id", "=", id).executeTakeFirstOrThrow();
  return { new_package_id: id, version: row.version };
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
  const characters = pkg.characters.map((c) =>
    c.name === character ? { ...c, voice: { ...c.voice, voice_id: voiceId, speed: speed ?? c.voice.speed } } : c,
  );
  let changed = 0;
  await db.transaction().execute(async (trx) => {
    await savePackage(trx, packageId, { characters });
    // The narrator's voice on the package: new narration lines (a storyboard redone) get it too.
    if (character === null && narration)
      await saveNarratorVoice(trx, packageId, { ...narration, voice_id: voiceId, speed: speed ?? narration.speed });
    for (const shot of await loadShots(trx, packageId)) {
      const speaks = (l: ShotMaterial["lines"][number]) =>
        character === null ? l.kind === "narration" : l.speaker === character;
      if (!shot.lines.some(speaks)) continue;
      const lines = shot.lines.map((l) =>
        speaks(l) ? { ...l, voice: { ...l.voice, voice_id: voiceId, speed: speed ?? l.voice.speed } } : l,
      );
      changed += lines.filter(speaks).length;
      await saveShot(trx, packageId, { ...shot, lines, stale: [...new Set([...shot.stale, "voice" as const])] });
    }
  });
  return { character, voice_id: voiceId, lines_changed: changed };
}

const TEXT_FIELDS = {
  storyline: ["title", "logline", "summary", "tone", "genre"],
  character: ["description", "personality"],
  scene: ["location", "summary"],
  shot: ["description"],
} as const;

/** Edits one text field of a storyline, character, scene or shot. A shot's new description makes its keyframe stale. */
export async function modifyText(
  db: Db,
  { userId, packageId }: { userId: string; packageId: string },
  e: { element: keyof typeof TEXT_FIELDS; id?: string; field: string; value: string },
) {
  const { project } = await packageFor(db, { userId, packageId }, "editor");
  await notWhileRunning(db, project.id);
  if (!(TEXT_FIELDS[e.element] as readonly string[]).includes(e.field)) {
    throw validation([
      { path: "/field", message: `${e.element} text fields are ${TEXT_FIELDS[e.element].join(", ")}` },
    ]);
  }
  const pkg = await loadPackage(db, packageId);
  if (e.element === "storyline") {
    if (!pkg.storyline) throw conflict("the package has no storyline yet");
    await savePackage(db, packageId, { storyline: { ...pkg.storyline, [e.field]: e.value } });
  } else if (e.element === "character") {
    if (!pkg.characters.some((c) => c.name === e.id)) throw notFound("character");
    await savePackage(db, packageId, {
      characters: pkg.characters.map((c) => (c.name === e.id ? { ...c, [e.field]: e.value } : c)),
    });
  } else if (e.element === "scene") {
    if (!pkg.scenes.some((s) => s.id === e.id)) throw notFound("scene");
    await savePackage(db, packageId, {
      scenes: pkg.scenes.map((s) => (s.id === e.id ? { ...s, [e.field]: e.value } : s)),
    });
  } else {
    const shot = (await loadShots(db, packageId)).find((s) => s.id === e.id);
    if (!shot) throw notFound("shot");
    await saveShot(db, packageId, {
      ...shot,
      description: e.value,
      stale: [...new Set([...shot.stale, "keyframe" as const])],
    });
  }
  return getPackage(db, { userId, packageId });
}

/** Queues a new candidate image for a character's reference sheet, a scene or a shot's keyframe (202). */
export async function regenerateImage(
  db: Db,
  { userId, packageId }: { userId: string; packageId: string },
  { element, id }: { element: "character" | "scene" | "shot"; id: string },
  seed?: number,
) {
  const { project } = await packageFor(db, { userId, packageId }, "editor");
  await notWhileRunning(db, project.id);
  const pkg = await loadPackage(db, packageId);
  const exists =
    element === "character"
      ? pkg.characters.some((c) => c.name === id)
      : element === "scene"
        ? pkg.scenes.some((s) => s.id === id)
        : (await loadShots(db, packageId)).some((s) => s.id === id);
  if (!exists) throw notFound(element);
  const what = element === "character" ? "reference" : element === "scene" ? "scene_image" : "keyframe";
  const payload: RegeneratePayload = {
    project_id: project.id,
    package_id: packageId,
    target: id,
    what,
    seed: seed ?? Math.floor(Math.random() * 1_000_000) + 1,
    user_id: userId,
  };
  const job = await enqueue(db, {
    kind: "pipeline.regenerate",
    queue: PIPELINE_QUEUE,
    payload,
    maxAttempts: 2,
    timeoutMs: 10 * 60_000,
  });
  return { job_ids: [job.id], generation_status: "pending" as const };
}

/** Selects one of a character's reference sheets or a scene's pictures. */
export async function selectImage(
  db: Db,
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
  return getPackage(db, { userId, packageId });
}
