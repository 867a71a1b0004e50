import type { AuthError, Session as SupabaseSession } from "@supabase/supabase-js";
import { verifyPassword } from "../../auth/passwords.ts";
import { revokeSession, rotateRefreshToken, sessionOfRefreshToken, startSession } from "../../auth/sessions.ts";
import { AppError, conflict, unauthorized, validation } from "../../core/errors.ts";
import type { User } from "../../db/types.ts";
import type { Deps } from "../../deps.ts";
import { checkUsername } from "../../services/username.ts";
import { createUser, ensureSupabaseUser, findUserById, findUserByLogin, toPublicUser } from "../../services/users.ts";

export interface AuthResult {
  user: ReturnType<typeof toPublicUser>;
  access_token: string;
  refresh_token: string;
  token_type: "bearer";
  expires_in: number;
}

export type RegisterOutcome = AuthResult | { user: ReturnType<typeof toPublicUser>; confirmation_required: true };

async function localTokens(deps: Deps, user: User, sessionId: string, refreshToken: string): Promise<AuthResult> {
  const access_token = await deps.issuer.sign({
    sub: user.id,
    email: user.email,
    session_id: sessionId,
    username: user.username,
  });
  return {
    user: toPublicUser(user),
    access_token,
    refresh_token: refreshToken,
    token_type: "bearer",
    expires_in: deps.config.jwt.accessTtlS,
  };
}

async function supabaseTokens(deps: Deps, session: SupabaseSession, username?: string): Promise<AuthResult> {
  // A user created in Supabase directly (e.g. by a front end) brings their username as metadata.
  const metaUsername = session.user.user_metadata?.username;
  username ??= typeof metaUsername === "string" ? metaUsername : undefined;
  const user = await ensureSupabaseUser(deps.db, { sub: session.user.id, email: session.user.email, username });
  return {
    user: toPublicUser(user),
    access_token: session.access_token,
    refresh_token: session.refresh_token,
    token_type: "bearer",
    expires_in: session.expires_in,
  };
}

/** Maps a Supabase Auth failure to our envelope without passing its internals through. */
function supabaseFailure(error: AuthError, unauthorizedMessage: string): never {
  const status = error.status ?? 0;
  if (error.code === "weak_password") {
    throw validation([{ path: "/password", message: error.message || "is too weak" }]);
  }
  if (error.code === "email_address_invalid") {
    throw validation([{ path: "/email", message: error.message || "is not accepted" }]);
  }
  if (error.code === "signup_disabled") throw new AppError("FORBIDDEN", "sign-ups are disabled for this project");
  if (status === 422 && /already/i.test(error.message)) {
    throw conflict("email is already registered", { fields: [{ path: "/email", message: "already registered" }] });
  }
  if (status === 400 || status === 401 || status === 403 || status === 422) throw unauthorized(unauthorizedMessage);
  throw new AppError("AUTH_SERVICE_ERROR", "the authentication service is unavailable", {
    provider: "supabase",
    status,
  });
}

export async function register(
  deps: Deps,
  input: { username: string; email: string; password: string },
): Promise<RegisterOutcome> {
  checkUsername(input.username);
  if (deps.supabaseClient) {
    if (await findUserByLogin(deps.db, { username: input.username })) {
      throw conflict("username is already taken", { fields: [{ path: "/username", message: "already taken" }] });
    }
    const { data, error } = await deps.supabaseClient().auth.signUp({
      email: input.email,
      password: input.password,
      options: { data: { username: input.username } },
    });
    if (error) supabaseFailure(error, "registration was refused");
    if (!data.session) {
      const user = await ensureSupabaseUser(deps.db, {
        sub: data.user!.id,
        email: input.email,
        username: input.username,
      });
      return { user: toPublicUser(user), confirmation_required: true };
    }
    return supabaseTokens(deps, data.session, input.username);
  }
  const user = await createUser(deps.db, input);
  const { sessionId, refreshToken } = await startSession(deps.db, user.id, deps.config.jwt.refreshTtlS);
  return localTokens(deps, user, sessionId, refreshToken);
}

export async function login(
  deps: Deps,
  input: { username?: string; email?: string; password: string },
): Promise<AuthResult> {
  if (input.username === undefined && input.email === undefined) {
    throw validation([{ path: "/username", message: "username or email is required" }]);
  }
  // One field may carry either: an "@" means an email address.
  const byEmail = input.email ?? (input.username?.includes("@") ? input.username : undefined);
  const login = byEmail !== undefined ? { email: byEmail } : { username: input.username };
  const invalid = "invalid username/email or password";
  if (deps.supabaseClient) {
    const email = login.email ?? (await findUserByLogin(deps.db, login))?.email;
    if (!email) throw unauthorized(invalid);
    const { data, error } = await deps.supabaseClient().auth.signInWithPassword({ email, password: input.password });
    if (error) supabaseFailure(error, invalid);
    return supabaseTokens(deps, data.session!);
  }
  const user = await findUserByLogin(deps.db, login);
  const valid = await verifyPassword(input.password, user?.password_hash ?? null);
  if (!user || !valid) throw unauthorized(invalid);
  const { sessionId, refreshToken } = await startSession(deps.db, user.id, deps.config.jwt.refreshTtlS);
  return localTokens(deps, user, sessionId, refreshToken);
}

export async function refresh(deps: Deps, refreshToken: string | undefined): Promise<AuthResult> {
  if (!refreshToken) throw unauthorized("refresh token is required (body or cookie)");
  if (deps.supabaseClient) {
    const { data, error } = await deps.supabaseClient().auth.refreshSession({ refresh_token: refreshToken });
    if (error || !data.session) {
      if (error) supabaseFailure(error, "refresh token is invalid or expired");
      throw unauthorized("refresh token is invalid or expired");
    }
    return supabaseTokens(deps, data.session);
  }
  const rotated = await rotateRefreshToken(deps.db, refreshToken, deps.config.jwt.refreshTtlS);
  const user = await findUserById(deps.db, rotated.userId);
  if (!user) throw unauthorized("refresh token is invalid or expired");
  return localTokens(deps, user, rotated.sessionId, rotated.refreshToken);
}

/** Ends the session of the access token and/or of the refresh token presented. */
export async function logout(
  deps: Deps,
  input: { accessToken: string | null; sessionId: string | null; refreshToken?: string },
) {
  if (deps.supabaseClient) {
    if (input.accessToken) await deps.supabaseClient().auth.admin.signOut(input.accessToken, "local");
    return;
  }
  if (input.sessionId) await revokeSession(deps.db, input.sessionId, "logout");
  if (input.refreshToken) {
    const sessionId = await sessionOfRefreshToken(deps.db, input.refreshToken);
    if (sessionId) await revokeSession(deps.db, sessionId, "logout");
  }
}
