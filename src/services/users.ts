import { sql, type Transaction } from "kysely";
import { hashPassword } from "../auth/passwords.ts";
import { revokeUserSessions } from "../auth/sessions.ts";
import { AppError, conflict, notFound } from "../core/errors.ts";
import { type Db, isUniqueViolation } from "../db/client.ts";
import type { Database, User, UserRole, UserTier } from "../db/types.ts";
import { createPersonalSpace, ensureSpaceHasAdmin, removeSpaceContents } from "./spaces.ts";

export interface PublicUser {
  id: string;
  username: string;
  email: string;
  role: UserRole;
  tier: UserTier;
  avatar_url: string | null;
  current_space_id: string | null;
  settings: { language: "zh" | "en" | null; theme: "light" | "dark" | "system" };
  created_at: string;
}

export const toPublicUser = (u: User): PublicUser => ({
  id: u.id,
  username: u.username,
  email: u.email,
  role: u.role,
  tier: u.tier,
  avatar_url: u.avatar_url,
  current_space_id: u.current_space_id,
  settings: { language: u.language, theme: u.theme },
  created_at: u.created_at.toISOString(),
});

/** Turns a unique violation on username or email into a 409 naming the field. */
function duplicateAsConflict(err: unknown): never {
  if (isUniqueViolation(err, "users_username_key")) {
    throw conflict("username is already taken", { fields: [{ path: "/username", message: "already taken" }] });
  }
  if (isUniqueViolation(err, "users_email_key")) {
    throw conflict("email is already registered", { fields: [{ path: "/email", message: "already registered" }] });
  }
  throw err;
}

export interface NewUserInput {
  id?: string;
  username: string;
  email: string;
  password?: string;
  role?: UserRole;
  authProvider?: "local" | "supabase";
}

/** Creates a user together with their personal space, in one transaction. */
export async function createUser(db: Db, input: NewUserInput): Promise<User> {
  const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
  try {
    return await db.transaction().execute(async (trx) => insertUser(trx, input, passwordHash));
  } catch (err) {
    duplicateAsConflict(err);
  }
}

async function insertUser(trx: Transaction<Database>, input: NewUserInput, passwordHash: string | null) {
  const user = await trx
    .insertInto("users")
    .values({
      ...(input.id ? { id: input.id } : {}),
      username: input.username,
      email: input.email,
      password_hash: passwordHash,
      role: input.role ?? "USER",
      auth_provider: input.authProvider ?? "local",
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  const space = await createPersonalSpace(trx, user);
  return trx
    .updateTable("users")
    .set({ current_space_id: space.id })
    .where("id", "=", user.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export function findUserById(db: Db, id: string) {
  return db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();
}

/** Finds a user by username or email, case-insensitively (indexed on lower()). */
export function findUserByLogin(db: Db, login: { username?: string; email?: string }) {
  const q = db.selectFrom("users").selectAll();
  if (login.email !== undefined) return q.where(sql`lower(email)`, "=", login.email.toLowerCase()).executeTakeFirst();
  return q.where(sql`lower(username)`, "=", (login.username ?? "").toLowerCase()).executeTakeFirst();
}

/**
 * The local row of a Supabase Auth user, created the first time their token is seen, with the
 * same id. A taken username gets a short suffix.
 */
export async function ensureSupabaseUser(db: Db, claims: { sub: string; email?: string; username?: string }) {
  const existing = await findUserById(db, claims.sub);
  if (existing) return existing;
  const email = claims.email ?? `${claims.sub}@users.supabase.invalid`;
  const base =
    (claims.username ?? email.split("@")[0] ?? "user").replace(/[^\p{L}\p{N}_.-]/gu, "").slice(0, 40) || "user";
  for (let attempt = 0; attempt < 5; attempt++) {
    const username = attempt === 0 ? base : `${base}-${crypto.randomUUID().slice(0, 6)}`;
    try {
      return await db
        .transaction()
        .execute((trx) => insertUser(trx, { id: claims.sub, username, email, authProvider: "supabase" }, null));
    } catch (err) {
      const raced = await findUserById(db, claims.sub);
      if (raced) return raced;
      if (!isUniqueViolation(err, "users_username_key")) duplicateAsConflict(err);
    }
  }
  throw new AppError("CONFLICT", "could not choose a unique username for this account");
}

export interface UserPatch {
  username?: string;
  email?: string;
  password?: string;
  role?: UserRole;
  tier?: UserTier;
  avatar_url?: string | null;
  settings?: { language?: "zh" | "en" | null; theme?: "light" | "dark" | "system" };
}

/** Self or ADMIN may see a user; anyone else gets 404, as if the user did not exist. */
export async function visibleUser(db: Db, caller: User, id: string) {
  if (caller.id !== id && caller.role !== "ADMIN") throw notFound("user");
  const user = await findUserById(db, id);
  if (!user) throw notFound("user");
  return user;
}

/**
 * Applies a patch the caller is allowed to make (checked by the caller). A password change
 * revokes the user's other sessions.
 */
export async function updateUser(
  db: Db,
  { userId: id, keepSessionId: keepSession }: { userId: string; keepSessionId?: string },
  patch: UserPatch,
): Promise<User> {
  const values: Partial<Record<string, unknown>> = { updated_at: new Date() };
  if (patch.username !== undefined) values.username = patch.username;
  if (patch.email !== undefined) values.email = patch.email;
  if (patch.role !== undefined) values.role = patch.role;
  if (patch.tier !== undefined) values.tier = patch.tier;
  if (patch.avatar_url !== undefined) values.avatar_url = patch.avatar_url;
  if (patch.settings?.language !== undefined) values.language = patch.settings.language;
  if (patch.settings?.theme !== undefined) values.theme = patch.settings.theme;
  if (patch.password !== undefined) values.password_hash = await hashPassword(patch.password);
  let user: User | undefined;
  try {
    user = await db.updateTable("users").set(values).where("id", "=", id).returningAll().executeTakeFirst();
  } catch (err) {
    duplicateAsConflict(err);
  }
  if (!user) throw notFound("user");
  if (patch.password !== undefined) await revokeUserSessions(db, id, "password_changed", keepSession);
  return user;
}

/**
 * Deletes a user and their personal space. Team spaces they belonged to live on; one left
 * without an admin gets its longest-standing member promoted.
 */
export async function deleteUser(db: Db, id: string) {
  await db.transaction().execute(async (trx) => {
    const teams = await trx
      .selectFrom("space_members")
      .innerJoin("spaces", "spaces.id", "space_members.space_id")
      .select("spaces.id")
      .where("space_members.user_id", "=", id)
      .where("spaces.type", "=", "team")
      .execute();
    const personal = await trx
      .selectFrom("spaces")
      .select("id")
      .where("owner_id", "=", id)
      .where("type", "=", "personal")
      .execute();
    await removeSpaceContents(
      trx,
      personal.map((s) => s.id),
    );
    await trx.deleteFrom("spaces").where("owner_id", "=", id).where("type", "=", "personal").execute();
    const deleted = await trx.deleteFrom("users").where("id", "=", id).executeTakeFirst();
    if (deleted.numDeletedRows === 0n) throw notFound("user");
    for (const team of teams) await ensureSpaceHasAdmin(trx, team.id);
  });
}
