import { type DocumentDecoration, Elysia } from "elysia";
import { forbidden, unauthorized } from "../core/errors.ts";
import type { SpaceRole, User } from "../db/types.ts";
import type { Deps } from "../deps.ts";
import { ensureSupabaseUser } from "../services/users.ts";
import { requestInfo } from "./request-info.ts";

export interface Caller {
  user: User;
  /** Our session behind the token; null for Supabase tokens (Supabase tracks those). */
  sessionId: string | null;
}

export function bearerToken(header: string | null | undefined): string | null {
  const match = /^Bearer\s+([A-Za-z0-9._~+/=-]+)$/i.exec(header ?? "");
  return match ? match[1]! : null;
}

/** Verifies an access token and loads its user; any failure is 401. */
export async function authenticate(deps: Deps, token: string | null): Promise<Caller> {
  if (!token) throw unauthorized("missing bearer token");
  if (deps.verifySupabase) {
    const claims = await deps.verifySupabase(token).catch(() => null);
    if (!claims) throw unauthorized("invalid or expired token");
    const user = await ensureSupabaseUser(deps.db, {
      sub: claims.sub,
      email: claims.email,
      username: typeof claims.user_metadata?.username === "string" ? claims.user_metadata.username : undefined,
    });
    return { user, sessionId: null };
  }
  const claims = await deps.issuer.verify(token).catch(() => null);
  if (!claims?.session_id) throw unauthorized("invalid or expired token");
  const user = await deps.sessions.load(deps.db, { userId: claims.sub, sessionId: claims.session_id });
  if (!user) throw unauthorized("token has been revoked");
  return { user, sessionId: claims.session_id };
}

/** The caller's address: the socket's, or the first X-Forwarded-For hop behind a trusted proxy. */
export function clientIp(
  deps: Deps,
  request: Request,
  server: { requestIP(r: Request): { address: string } | null } | null,
) {
  if (deps.config.trustProxy) {
    const forwarded = request.headers.get("x-forwarded-for")?.split(",")[0]?.trim();
    if (forwarded) return forwarded;
  }
  return server?.requestIP(request)?.address ?? "unknown";
}

/** An OpenAPI extension (`x-…`) on a route's docs; Elysia's type for `detail` names only the standard fields. */
const docMark = (extension: Record<`x-${string}`, unknown>) => extension as DocumentDecoration;

/** What `spaceRole` adds to a route's docs, for routes that authenticate without the guard (event streams). */
export const spaceRoleDoc = (role: SpaceRole) => docMark({ "x-space-role": role });

/**
 * Route options for auth: `auth: true` resolves `caller` (401 without a valid token) and counts
 * the request against the caller's per-minute limit; `admin: true` does the same and then answers
 * 403 FORBIDDEN to anyone but an ADMIN, before the handler runs; `spaceRole: "editor"` (or
 * "viewer", "admin") does what `auth: true` does and declares the lowest role in the resource's
 * space that the route's service demands (the service checks it: which space a route touches is
 * known only once its row is loaded); `ipLimit: true` counts an unauthenticated request (login,
 * register, refresh) against the per-IP limit.
 *
 * `admin` and `spaceRole` also mark the route's docs (`x-admin`, `x-space-role`), which is how
 * tests find every such route in the route table.
 */
export function authGuard(deps: Deps) {
  return new Elysia({ name: "inkreel.auth-guard" })
    .macro({
      auth: {
        async resolve({ request }) {
          const caller = await authenticate(deps, bearerToken(request.headers.get("authorization")));
          requestInfo(request).userId = caller.user.id;
          await deps.rateLimiter.hit(`user:${caller.user.id}`, deps.config.limits.userPerMinute);
          return { caller };
        },
      },
      ipLimit: {
        async beforeHandle({ request, server }) {
          await deps.rateLimiter.hit(`ip:${clientIp(deps, request, server)}`, deps.config.limits.authPerMinute);
        },
      },
    })
    .macro("admin", {
      auth: true,
      detail: docMark({ "x-admin": true }),
      beforeHandle({ caller }) {
        if (caller.user.role !== "ADMIN") throw forbidden("this needs the ADMIN role");
      },
    })
    .macro({ spaceRole: (role: SpaceRole) => ({ auth: true, detail: spaceRoleDoc(role) }) });
}
