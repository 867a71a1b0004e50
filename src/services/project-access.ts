import { notFound } from "../core/errors.ts";
import type { Db } from "../db/client.ts";
import type { SpaceRole } from "../db/types.ts";
import { requireSpaceRole } from "./spaces.ts";

/**
 * The project, if the user may act on it with at least `minRole` in its space: a project in a
 * space the user is not a member of is "not found" (never reveal it exists); a lower role is 403.
 */
export async function requireProject(
  db: Db,
  { userId, projectId }: { userId: string; projectId: string },
  minRole: SpaceRole = "viewer",
) {
  const project = await db.selectFrom("projects").selectAll().where("id", "=", projectId).executeTakeFirst();
  if (!project) throw notFound("project");
  await requireSpaceRole(db, { userId, spaceId: project.space_id }, minRole).catch((e: unknown) => {
    throw (e as { code?: string }).code === "NOT_FOUND" ? notFound("project") : e;
  });
  return project;
}
