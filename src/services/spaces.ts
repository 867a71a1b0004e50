import { randomInt } from "node:crypto";
import type { Kysely, Transaction } from "kysely";
import { conflict, forbidden, notFound } from "../core/errors.ts";
import { page } from "../core/page.ts";
import { type Db, isUniqueViolation } from "../db/client.ts";
import type { Database, Space, SpaceInvite, SpaceRole, User } from "../db/types.ts";
import { deletePrefixJob, removeProjects } from "../pipeline/project-removal.ts";
import { enqueue } from "../queue/index.ts";

const RANK: Record<SpaceRole, number> = { viewer: 1, editor: 2, admin: 3 };

type Executor = Kysely<Database> | Transaction<Database>;

export interface PublicSpace {
  id: string;
  type: Space["type"];
  name: string;
  logo_url: string | null;
  owner_id: string | null;
  role: SpaceRole;
  last_accessed_at: string | null;
  created_at: string;
  updated_at: string;
}

const toPublicSpace = (s: Space, role: SpaceRole, lastAccessed: Date | null): PublicSpace => ({
  id: s.id,
  type: s.type,
  name: s.name,
  logo_url: s.logo_url,
  owner_id: s.owner_id,
  role,
  last_accessed_at: lastAccessed?.toISOString() ?? null,
  created_at: s.created_at.toISOString(),
  updated_at: s.updated_at.toISOString(),
});

export async function createPersonalSpace(trx: Executor, user: User): Promise<Space> {
  const space = await trx
    .insertInto("spaces")
    .values({ type: "personal", name: user.username, owner_id: user.id })
    .returningAll()
    .executeTakeFirstOrThrow();
  await trx.insertInto("space_members").values({ space_id: space.id, user_id: user.id, role: "admin" }).execute();
  return space;
}

/**
 * The one access check for everything that lives in a space: non-members get 404 (the space's
 * existence is not revealed), members below `minRole` get 403.
 */
export async function requireSpaceRole(
  db: Executor,
  { userId, spaceId }: { userId: string; spaceId: string },
  minRole: SpaceRole,
) {
  const row = await db
    .selectFrom("spaces")
    .innerJoin("space_members", "space_members.space_id", "spaces.id")
    .selectAll("spaces")
    .select(["space_members.role as member_role", "space_members.last_accessed_at"])
    .where("spaces.id", "=", spaceId)
    .where("space_members.user_id", "=", userId)
    .executeTakeFirst();
  if (!row) throw notFound("space");
  const { member_role: role, last_accessed_at, ...space } = row;
  requireRole(role, minRole);
  return { space: space as Space, role, lastAccessedAt: last_accessed_at };
}

/** 403 unless `role` is at least `minRole`. */
export function requireRole(role: SpaceRole, minRole: SpaceRole) {
  if (RANK[role] < RANK[minRole]) throw forbidden(`this needs the ${minRole} role in the space; you are ${role}`);
}

export async function getSpace(db: Db, { userId, spaceId }: { userId: string; spaceId: string }) {
  const { space, role, lastAccessedAt } = await requireSpaceRole(db, { userId, spaceId }, "viewer");
  return toPublicSpace(space, role, lastAccessedAt);
}

export async function listSpaces(db: Db, userId: string, pageNo: number, pageSize: number) {
  const base = db
    .selectFrom("spaces")
    .innerJoin("space_members", "space_members.space_id", "spaces.id")
    .where("space_members.user_id", "=", userId);
  const [rows, count] = await Promise.all([
    base
      .selectAll("spaces")
      .select(["space_members.role as member_role", "space_members.last_accessed_at"])
      .orderBy("spaces.type", "asc")
      .orderBy("spaces.created_at", "asc")
      .orderBy("spaces.id")
      .limit(pageSize)
      .offset((pageNo - 1) * pageSize)
      .execute(),
    base.select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow(),
  ]);
  const items = rows.map(({ member_role, last_accessed_at, ...s }) =>
    toPublicSpace(s as Space, member_role, last_accessed_at),
  );
  return page(items, Number(count.n), pageNo, pageSize);
}

export async function createTeamSpace(db: Db, userId: string, input: { name: string; logo_url?: string }) {
  return db.transaction().execute(async (trx) => {
    const space = await trx
      .insertInto("spaces")
      .values({ type: "team", name: input.name, logo_url: input.logo_url ?? null, owner_id: userId })
      .returningAll()
      .executeTakeFirstOrThrow();
    await trx.insertInto("space_members").values({ space_id: space.id, user_id: userId, role: "admin" }).execute();
    return toPublicSpace(space, "admin", null);
  });
}

export async function updateSpace(
  db: Db,
  { userId, spaceId }: { userId: string; spaceId: string },
  patch: { name?: string; logo_url?: string | null },
) {
  const { role, lastAccessedAt } = await requireSpaceRole(db, { userId, spaceId }, "admin");
  const space = await db
    .updateTable("spaces")
    .set({ ...patch, updated_at: new Date() })
    .where("id", "=", spaceId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toPublicSpace(space, role, lastAccessedAt);
}

export async function deleteSpace(db: Db, { userId, spaceId }: { userId: string; spaceId: string }) {
  const { space } = await requireSpaceRole(db, { userId, spaceId }, "admin");
  if (space.type === "personal") throw conflict("a personal space cannot be deleted");
  await db.transaction().execute(async (trx) => {
    await removeSpaceContents(trx, [spaceId]);
    await trx.deleteFrom("spaces").where("id", "=", spaceId).execute();
  });
}

/**
 * Deletes what spaces about to be deleted hold: their projects the way deleting one project does
 * (runs cancelled, files removed by a job committed with the rows), and the files of the space's
 * own uploads and library (under spaces/<id>/), whose rows go with the space. The spaces are
 * locked first, so no project or upload can be added to them meanwhile.
 */
export async function removeSpaceContents(trx: Transaction<Database>, spaceIds: string[]) {
  if (spaceIds.length === 0) return;
  await trx.selectFrom("spaces").select("id").where("id", "in", spaceIds).orderBy("id").forUpdate().execute();
  const projects = await trx.selectFrom("projects").select("id").where("space_id", "in", spaceIds).execute();
  await removeProjects(
    trx,
    projects.map((p) => p.id),
  );
  for (const id of spaceIds) await enqueue(trx, deletePrefixJob(`spaces/${id}/`));
}

/** Makes `spaceId` the user's current space (and records the access). */
export async function switchSpace(db: Db, { userId, spaceId }: { userId: string; spaceId: string }) {
  const { space, role } = await requireSpaceRole(db, { userId, spaceId }, "viewer");
  const now = new Date();
  await db.transaction().execute(async (trx) => {
    await trx.updateTable("users").set({ current_space_id: spaceId }).where("id", "=", userId).execute();
    await trx
      .updateTable("space_members")
      .set({ last_accessed_at: now })
      .where("space_id", "=", spaceId)
      .where("user_id", "=", userId)
      .execute();
  });
  return toPublicSpace(space, role, now);
}

// Unambiguous characters only (no 0/O, 1/I/L), so codes survive being read aloud.
const CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const newInviteCode = () => Array.from({ length: 10 }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join("");

const toPublicInvite = (i: SpaceInvite) => ({
  id: i.id,
  space_id: i.space_id,
  code: i.code,
  role: i.role,
  max_uses: i.max_uses,
  uses: i.uses,
  expires_at: i.expires_at.toISOString(),
  revoked_at: i.revoked_at?.toISOString() ?? null,
  created_at: i.created_at.toISOString(),
});
export type PublicInvite = ReturnType<typeof toPublicInvite>;

export async function createInvite(
  db: Db,
  { userId, spaceId }: { userId: string; spaceId: string },
  input: { role?: SpaceRole; expires_in_s?: number; max_uses?: number },
) {
  const { space } = await requireSpaceRole(db, { userId, spaceId }, "admin");
  if (space.type === "personal") throw conflict("a personal space has no other members; create a team space");
  const invite = await db
    .insertInto("space_invites")
    .values({
      space_id: spaceId,
      code: newInviteCode(),
      role: input.role ?? "editor",
      max_uses: input.max_uses ?? 10,
      expires_at: new Date(Date.now() + (input.expires_in_s ?? 7 * 86_400) * 1000),
      created_by: userId,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toPublicInvite(invite);
}

export async function listInvites(db: Db, { userId, spaceId }: { userId: string; spaceId: string }) {
  await requireSpaceRole(db, { userId, spaceId }, "admin");
  const rows = await db
    .selectFrom("space_invites")
    .selectAll()
    .where("space_id", "=", spaceId)
    .orderBy("created_at", "desc")
    .execute();
  return rows.map(toPublicInvite);
}

export async function revokeInvite(
  db: Db,
  { userId, spaceId, inviteId }: { userId: string; spaceId: string; inviteId: string },
) {
  await requireSpaceRole(db, { userId, spaceId }, "admin");
  const row = await db
    .updateTable("space_invites")
    .set({ revoked_at: new Date() })
    .where("id", "=", inviteId)
    .where("space_id", "=", spaceId)
    .returningAll()
    .executeTakeFirst();
  if (!row) throw notFound("invite");
  return toPublicInvite(row);
}

/**
 * Joins the space of an invite code. One use is counted atomically with the membership; an
 * unknown, revoked, expired or used-up code answers 404 without saying which.
 */
export async function joinSpace(db: Db, userId: string, code: string) {
  try {
    return await db.transaction().execute(async (trx) => {
      const invite = await trx
        .updateTable("space_invites")
        .set((eb) => ({ uses: eb("uses", "+", 1) }))
        .where("code", "=", code.trim().toUpperCase())
        .where("revoked_at", "is", null)
        .where("expires_at", ">", new Date())
        .where((eb) => eb("uses", "<", eb.ref("max_uses")))
        .returning(["space_id", "role"])
        .executeTakeFirst();
      if (!invite) throw notFound("invite code");
      const now = new Date();
      await trx
        .insertInto("space_members")
        .values({ space_id: invite.space_id, user_id: userId, role: invite.role, last_accessed_at: now })
        .execute();
      const space = await trx
        .selectFrom("spaces")
        .selectAll()
        .where("id", "=", invite.space_id)
        .executeTakeFirstOrThrow();
      return toPublicSpace(space, invite.role, now);
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw conflict("you are already a member of this space");
    throw err;
  }
}

export async function listMembers(
  db: Db,
  { userId, spaceId }: { userId: string; spaceId: string },
  pageNo: number,
  pageSize: number,
) {
  await requireSpaceRole(db, { userId, spaceId }, "viewer");
  const base = db.selectFrom("space_members").where("space_id", "=", spaceId);
  const [rows, count] = await Promise.all([
    base
      .innerJoin("users", "users.id", "space_members.user_id")
      .select([
        "users.id as user_id",
        "users.username",
        "users.avatar_url",
        "space_members.role",
        "space_members.joined_at",
      ])
      .orderBy("space_members.joined_at")
      .orderBy("users.id")
      .limit(pageSize)
      .offset((pageNo - 1) * pageSize)
      .execute(),
    base.select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow(),
  ]);
  const items = rows.map((r) => ({ ...r, joined_at: r.joined_at.toISOString() }));
  return page(items, Number(count.n), pageNo, pageSize);
}

async function adminCount(trx: Executor, spaceId: string) {
  const row = await trx
    .selectFrom("space_members")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("space_id", "=", spaceId)
    .where("role", "=", "admin")
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Promotes the longest-standing member when a team space has no admin left. */
export async function ensureSpaceHasAdmin(trx: Executor, spaceId: string) {
  if ((await adminCount(trx, spaceId)) > 0) return;
  const next = await trx
    .selectFrom("space_members")
    .select("user_id")
    .where("space_id", "=", spaceId)
    .orderBy("joined_at")
    .orderBy("user_id")
    .limit(1)
    .executeTakeFirst();
  if (next) {
    await trx
      .updateTable("space_members")
      .set({ role: "admin" })
      .where("space_id", "=", spaceId)
      .where("user_id", "=", next.user_id)
      .execute();
  }
}

/** Removes a member, refusing to leave a space without an admin or a personal space empty. */
async function dropMember(db: Db, space: Space, memberId: string) {
  if (space.type === "personal") throw conflict("nobody can leave or be removed from a personal space");
  await db.transaction().execute(async (trx) => {
    // Lock the space's member rows so two concurrent removals cannot both pass the admin check.
    const members = await trx
      .selectFrom("space_members")
      .select(["user_id", "role"])
      .where("space_id", "=", space.id)
      .forUpdate()
      .execute();
    const target = members.find((m) => m.user_id === memberId);
    if (!target) throw notFound("member");
    const admins = members.filter((m) => m.role === "admin").length;
    if (target.role === "admin" && admins === 1 && members.length > 1) {
      throw conflict("the last admin cannot leave; make another member admin first");
    }
    await trx.deleteFrom("space_members").where("space_id", "=", space.id).where("user_id", "=", memberId).execute();
    await trx
      .updateTable("users")
      .set({ current_space_id: null })
      .where("id", "=", memberId)
      .where("current_space_id", "=", space.id)
      .execute();
    // The last one out deletes the space, and with it its projects and their files.
    if (members.length === 1) {
      await removeSpaceContents(trx, [space.id]);
      await trx.deleteFrom("spaces").where("id", "=", space.id).execute();
    }
  });
}

export async function removeMember(
  db: Db,
  { userId, spaceId, memberId }: { userId: string; spaceId: string; memberId: string },
) {
  const { space } = await requireSpaceRole(db, { userId, spaceId }, "admin");
  await dropMember(db, space, memberId);
}

export async function leaveSpace(db: Db, { userId, spaceId }: { userId: string; spaceId: string }) {
  const { space } = await requireSpaceRole(db, { userId, spaceId }, "viewer");
  await dropMember(db, space, userId);
}

export async function changeMemberRole(
  db: Db,
  { userId, spaceId, memberId }: { userId: string; spaceId: string; memberId: string },
  role: SpaceRole,
) {
  const { space } = await requireSpaceRole(db, { userId, spaceId }, "admin");
  if (space.type === "personal") throw conflict("roles in a personal space cannot change");
  return db.transaction().execute(async (trx) => {
    const members = await trx
      .selectFrom("space_members")
      .select(["user_id", "role"])
      .where("space_id", "=", spaceId)
      .forUpdate()
      .execute();
    const target = members.find((m) => m.user_id === memberId);
    if (!target) throw notFound("member");
    if (target.role === "admin" && role !== "admin" && members.filter((m) => m.role === "admin").length === 1) {
      throw conflict("the last admin cannot be demoted; make another member admin first");
    }
    await trx
      .updateTable("space_members")
      .set({ role })
      .where("space_id", "=", spaceId)
      .where("user_id", "=", memberId)
      .execute();
    return { user_id: memberId, role };
  });
}
