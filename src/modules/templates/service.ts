import { conflict, notFound } from "../../core/errors.ts";
import type { ProjectOptions } from "../../core/project-options.ts";
import { type Db, isUniqueViolation } from "../../db/client.ts";
import { requireProject } from "../../services/project-access.ts";
import { requireSpaceRole } from "../../services/spaces.ts";

type TemplateRow = {
  id: string;
  space_id: string;
  name: string;
  description: string;
  options: ProjectOptions;
  created_by: string | null;
  created_at: Date;
};

const view = (t: TemplateRow) => ({ ...t, created_at: t.created_at.toISOString() });

/**
 * Saves project options as a named template of a space (an editor there): the options given, or
 * those of one of the space's projects. A name already used in the space is 409.
 */
export async function saveTemplate(
  db: Db,
  { userId, spaceId }: { userId: string; spaceId: string },
  b: { name: string; description?: string; options?: ProjectOptions; project_id?: string },
) {
  await requireSpaceRole(db, { userId, spaceId }, "editor");
  let options = b.options ?? {};
  if (b.project_id) {
    const project = await requireProject(db, { userId, projectId: b.project_id }, "viewer");
    if (project.space_id !== spaceId) throw notFound("project");
    options = { ...project.options, ...b.options };
  }
  try {
    const row = await db
      .insertInto("config_templates")
      .values({
        space_id: spaceId,
        name: b.name,
        description: b.description ?? "",
        options: JSON.stringify(options),
        created_by: userId,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return view(row);
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`the space already has a template named "${b.name}"`);
    throw e;
  }
}

export async function listTemplates(db: Db, { userId, spaceId }: { userId: string; spaceId: string }) {
  await requireSpaceRole(db, { userId, spaceId }, "viewer");
  const rows = await db
    .selectFrom("config_templates")
    .selectAll()
    .where("space_id", "=", spaceId)
    .orderBy("name")
    .execute();
  return rows.map(view);
}
