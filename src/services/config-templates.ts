import { notFound } from "../core/errors.ts";
import type { ProjectOptions } from "../core/project-options.ts";
import type { Db } from "../db/client.ts";

/** A config template's options, if it belongs to the space (404 otherwise: a template of another space is not seen). */
export async function templateOptions(
  db: Db,
  { templateId, spaceId }: { templateId: string; spaceId: string },
): Promise<ProjectOptions> {
  const row = await db
    .selectFrom("config_templates")
    .select("options")
    .where("id", "=", templateId)
    .where("space_id", "=", spaceId)
    .executeTakeFirst();
  if (!row) throw notFound("config template");
  return row.options;
}
