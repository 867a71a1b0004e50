import { notFound } from "../core/errors.ts";
import type { Db } from "../db/client.ts";
import type { SpaceRole } from "../db/types.ts";
import { requireRole } from "./spaces.ts";

/**
 * The query behind every project access check: the project with the caller's role in its space
 * (null: not a member). Callers may select more before executing it (the API's project read
 * adds its details), so the check and the read stay one round trip.
 */
export function projectWithRole(db: Db, { userId, projectId }: { userId: string; projectId: string }) {
  return db
    .selectFrom("projects")
    .leftJoin("space_members", (join) =>
      join.onRef("space_members.space_id", "=", "projects.space_id").on("space_members.user_id", "=", userId),
    )
    .selectAll("projects")
    .select("space_members.role as member_role")
    .where("projects.id", "=", projectId);
}

/**
 * The project, if the user may act on it with at least `minRole` in its space: a project in a
 * space the user is not a member of is "not found" (never reveal it exists); a lower role is 403.
 */
export async function requireProject(
  db: Db,
  { userId, projectId }: { userId: string; projectId: string },
  minRole: SpaceRole = "viewer",
) {
  const row = await projectWithRole(db, { userId, projectId }).executeTakeFirst();
  if (!row?.member_role) throw notFound("project");
  const { member_role: role, ...project } = row;
  requireRole(role, minRole);
  return project;
}

/** A material package and its project, with the same check on the project (someone else's package is "not found"). */
export async function requirePackage(
  db: Db,
  { userId, packageId }: { userId: string; packageId: string },
  minRole: SpaceRole = "viewer",
) {
  const row = await db
    .selectFrom("packages")
    .select(["id", "project_id"])
    .where("id", "=", packageId)
    .executeTakeFirst();
  if (!row) throw notFound("material package");
  const project = await requireProject(db, { userId, projectId: row.project_id }, minRole).catch((e: unknown) => {
    throw (e as { code?: string }).code === "NOT_FOUND" ? notFound("material package") : e;
  });
  return { project, packageId: row.id };
}
