import type { Db } from "../../db/client.ts";
import { conflict, notFound } from "../../http/errors.ts";
import { loadPackage, loadShots, newPackageVersion } from "../../pipeline/packages.ts";
import { requireProject } from "../projects/access.ts";

async function packageFor(db: Db, packageId: string, userId: string, role: "viewer" | "editor") {
  const row = await db.selectFrom("packages").select(["id", "project_id"]).where("id", "=", packageId).executeTakeFirst();
  if (!row) throw notFound("material package");
  const project = await requireProject(db, row.project_id, userId, role).catch((e: unknown) => {
    throw (e as { code?: string }).code === "NOT_FOUND" ? notFound("material package") : e;
  });
  return { project, packageId: row.id };
}

export async function listPackages(db: Db, projectId: string, userId: string) {
  const project = await requireProject(db, projectId, userId, "viewer");
  const rows = await db.selectFrom("packages").select(["id", "version", "name", "parent_id", "storyline", "created_at", "updated_at"]).where("project_id", "=", projectId).orderBy("version").execute();
  return rows.map((p) => ({
    id: p.id,
    version: p.version,
    package_name: p.name,
    parent_id: p.parent_id,
    is_active: p.id === project.active_package_id,
    summary: (p.storyline as { logline?: string } | null)?.logline ?? null,
    created_at: p.created_at.toISOString(),
    updated_at: p.updated_at.toISOString(),
  }));
}

export async function getPackage(db: Db, packageId: string, userId: string) {
  const { project } = await packageFor(db, packageId, userId, "viewer");
  const pkg = await loadPackage(db, packageId);
  const shots = await loadShots(db, packageId);
  return {
    id: pkg.id,
    project_id: pkg.project_id,
    version: pkg.version,
    package_name: pkg.name,
    is_active: project.active_package_id === pkg.id,
    materials: { storyline: pkg.storyline, art_style: pkg.art_style, characters: pkg.characters, scenes: pkg.scenes, shots, music: pkg.music },
  };
}

async function notWhileRunning(db: Db, projectId: string) {
  const busy = await db.selectFrom("runs").select("id").where("project_id", "=", projectId).where("status", "in", ["queued", "running"]).executeTakeFirst();
  if (busy) throw conflict("a run is in progress; wait for it or cancel it", { run_id: busy.id });
}

/** Makes a package the one the timeline, edits and exports use. */
export async function switchPackage(db: Db, packageId: string, userId: string) {
  const { project } = await packageFor(db, packageId, userId, "editor");
  await notWhileRunning(db, project.id);
  await db.updateTable("projects").set({ active_package_id: packageId, updated_at: new Date() }).where("id", "=", project.id).execute();
  return getPackage(db, packageId, userId);
}

export async function renamePackage(db: Db, packageId: string, userId: string, name: string) {
  await packageFor(db, packageId, userId, "editor");
  await db.updateTable("packages").set({ name, updated_at: new Date() }).where("id", "=", packageId).execute();
  return getPackage(db, packageId, userId);
}

/** A copy of the package as a new version (the copy becomes active). */
export async function saveAsNew(db: Db, packageId: string, userId: string, name?: string) {
  const { project } = await packageFor(db, packageId, userId, "editor");
  await notWhileRunning(db, project.id);
  const id = await db.transaction().execute(async (trx) => {
    const created = await newPackageVersion(trx, project.id, packageId, name);
    await trx.updateTable("projects").set({ active_package_id: created, updated_at: new Date() }).where("id", "=", project.id).execute();
    return created;
  });
  const row = await db.selectFrom("packages").select("version").where("id", "=", id).executeTakeFirstOrThrow();
  return { new_package_id: id, version: row.version };
}
