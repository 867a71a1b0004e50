import { sql } from "kysely";
import { page } from "../core/page.ts";
import type { Db } from "../db/client.ts";
import type { ConversationAction } from "../db/types.ts";

/**
 * A project's conversation log (seed 003 §3.5): each edit a creator makes is kept as what they
 * asked and what the system answered, in words, with the edit as data. Written by the services
 * that make the edit, after it succeeded.
 */
export async function logEdit(
  db: Db,
  { projectId, packageId, userId }: { projectId: string; packageId: string | null; userId: string },
  exchange: { asked: string; answered: string; action: ConversationAction },
) {
  const action = JSON.stringify(exchange.action);
  await db
    .insertInto("project_conversation")
    .values([
      { project_id: projectId, package_id: packageId, user_id: userId, role: "user", content: exchange.asked, action },
      {
        project_id: projectId,
        package_id: packageId,
        user_id: null,
        role: "system",
        content: exchange.answered,
        action,
      },
    ])
    .execute();
}

/** A page of the log, newest first (the caller checked the project may be seen). */
export async function conversationPage(db: Db, projectId: string, pageNo: number, size: number) {
  const base = db.selectFrom("project_conversation").where("project_id", "=", projectId);
  const [rows, count] = await Promise.all([
    base
      .selectAll()
      .orderBy("id", "desc")
      .limit(size)
      .offset((pageNo - 1) * size)
      .execute(),
    base.select(sql<number>`count(*)::int`.as("n")).executeTakeFirstOrThrow(),
  ]);
  return page(
    rows.map((r) => ({
      id: r.id,
      package_id: r.package_id,
      user_id: r.user_id,
      role: r.role,
      content: r.content,
      action: r.action,
      created_at: r.created_at.toISOString(),
    })),
    count.n,
    pageNo,
    size,
  );
}
