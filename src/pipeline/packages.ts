import { sql } from "kysely";
import type { Db } from "../db/client.ts";
import type { PackageContent, ShotMaterial, Voice } from "../story/material.ts";

export type Executor = Db;

export async function loadPackage(
  db: Executor,
  packageId: string,
): Promise<PackageContent & { id: string; project_id: string; version: number; name: string }> {
  const p = await db.selectFrom("packages").selectAll().where("id", "=", packageId).executeTakeFirstOrThrow();
  return {
    id: p.id,
    project_id: p.project_id,
    version: p.version,
    name: p.name,
    storyline: p.storyline,
    art_style: p.art_style,
    characters: p.characters,
    scenes: p.scenes,
    music: p.music,
  };
}

export async function savePackage(db: Executor, packageId: string, part: Partial<PackageContent>): Promise<void> {
  const values: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(part)) values[k] = v === null ? null : JSON.stringify(v);
  await db
    .updateTable("packages")
    .set({ ...values, updated_at: new Date() })
    .where("id", "=", packageId)
    .execute();
}

/**
 * Stores the narrator's voice in the package's storyline JSON (`storyline.narrator_voice`), in
 * place, leaving the rest of the storyline as it is; a package without a storyline is left alone.
 */
export async function saveNarratorVoice(db: Executor, packageId: string, voice: Voice): Promise<void> {
  await db
    .updateTable("packages")
    .set({
      storyline: sql<string>`jsonb_set(storyline, '{narrator_voice}', ${JSON.stringify(voice)}::jsonb)`,
      updated_at: new Date(),
    })
    .where("id", "=", packageId)
    .where("storyline", "is not", null)
    .execute();
}

export async function loadShots(db: Executor, packageId: string): Promise<ShotMaterial[]> {
  const rows = await db
    .selectFrom("package_shots")
    .select("data")
    .where("package_id", "=", packageId)
    .orderBy("position")
    .execute();
  return rows.map((r) => r.data);
}

export async function loadShot(
  db: Executor,
  { packageId, shotId }: { packageId: string; shotId: string },
): Promise<ShotMaterial> {
  const row = await db
    .selectFrom("package_shots")
    .select("data")
    .where("package_id", "=", packageId)
    .where("shot_id", "=", shotId)
    .executeTakeFirstOrThrow();
  return row.data;
}

export async function saveShot(db: Executor, packageId: string, shot: ShotMaterial): Promise<void> {
  await db
    .updateTable("package_shots")
    .set({ data: JSON.stringify(shot) })
    .where("package_id", "=", packageId)
    .where("shot_id", "=", shot.id)
    .execute();
}

export async function replaceShots(db: Executor, packageId: string, shots: ShotMaterial[]): Promise<void> {
  await db.deleteFrom("package_shots").where("package_id", "=", packageId).execute();
  if (shots.length === 0) return;
  for (let i = 0; i < shots.length; i += 500) {
    await db
      .insertInto("package_shots")
      .values(
        shots
          .slice(i, i + 500)
          .map((s, j) => ({ package_id: packageId, shot_id: s.id, position: i + j, data: JSON.stringify(s) })),
      )
      .execute();
  }
}

/** The project's next package version number (callers hold the project's row lock). */
export async function nextVersion(db: Executor, projectId: string): Promise<number> {
  const next = await db
    .selectFrom("packages")
    .select(sql<number>`coalesce(max(version), 0) + 1`.as("v"))
    .where("project_id", "=", projectId)
    .executeTakeFirstOrThrow();
  return Number(next.v);
}

/**
 * A new package version copying `from` (or empty): redoing a stage writes into the copy, so the
 * earlier version stays exactly as it was.
 */
export async function newPackageVersion(
  db: Executor,
  { projectId, fromPackageId: from }: { projectId: string; fromPackageId: string | null },
  name?: string,
): Promise<string> {
  const version = await nextVersion(db, projectId);
  const source = from
    ? await db.selectFrom("packages").selectAll().where("id", "=", from).executeTakeFirstOrThrow()
    : null;
  const row = await db
    .insertInto("packages")
    .values({
      project_id: projectId,
      version,
      name: name ?? `v${version}`,
      parent_id: from,
      storyline: source?.storyline == null ? null : JSON.stringify(source.storyline),
      art_style: source?.art_style == null ? null : JSON.stringify(source.art_style),
      characters: JSON.stringify(source?.characters ?? []),
      scenes: JSON.stringify(source?.scenes ?? []),
      music: source?.music == null ? null : JSON.stringify(source.music),
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  if (from) {
    await sql`insert into package_shots (package_id, shot_id, position, data) select ${row.id}, shot_id, position, data from package_shots where package_id = ${from}`.execute(
      db,
    );
  }
  return row.id;
}
