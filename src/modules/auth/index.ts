import { Elysia, t } from "elysia";
import { unauthorized } from "../../core/errors.ts";
import type { Deps } from "../../deps.ts";
import { authenticate, authGuard, bearerToken, type Caller } from "../../http/auth-guard.ts";
import { Envelope, ErrorEnvelope, ok } from "../../http/envelope.ts";
import { ComputeSummarySchema } from "../../schemas/compute.ts";
import { UserSchema } from "../../schemas/users.ts";
import { mySummary } from "../../services/compute.ts";
import { toPublicUser } from "../../services/users.ts";
import { AuthResult, LoginBody, RefreshBody, RegisterBody } from "./model.ts";
import * as auth from "./service.ts";

const COOKIE = "inkreel_refresh";
const errors = { 400: ErrorEnvelope, 401: ErrorEnvelope, 409: ErrorEnvelope, 429: ErrorEnvelope };

export function authModule(deps: Deps) {
  const cookieOptions = {
    httpOnly: true,
    sameSite: "strict" as const,
    secure: deps.config.cookieSecure,
    path: "/api/v1/auth",
  };
  type CookieJar = Record<string, { value?: unknown; set(o: object): unknown; remove(): unknown }>;
  const setRefreshCookie = (cookie: CookieJar, token: string) =>
    cookie[COOKIE]!.set({ value: token, maxAge: deps.config.jwt.refreshTtlS, ...cookieOptions });
  const cookieToken = (cookie: CookieJar) => {
    const v = cookie[COOKIE]?.value;
    return typeof v === "string" && v.length > 0 && v.length <= 512 ? v : undefined;
  };

  return new Elysia({ prefix: "/api/v1/auth", tags: ["auth"] })
    .use(authGuard(deps))
    .post(
      "/register",
      async ({ body, cookie, set }) => {
        const result = await auth.register(deps, body);
        set.status = "access_token" in result ? 201 : 202;
        if ("refresh_token" in result) setRefreshCookie(cookie, result.refresh_token);
        return ok(result, "access_token" in result ? "registered" : "confirm your email address to sign in");
      },
      {
        ipLimit: true,
        body: RegisterBody,
        response: {
          201: Envelope(AuthResult),
          202: Envelope(t.Object({ user: UserSchema, confirmation_required: t.Literal(true) })),
          ...errors,
        },
        detail: {
          summary: "Register with username, email and password",
          description: "Creates the user and their personal space. Rate limited per IP.",
        },
      },
    )
    .post(
      "/login",
      async ({ body, cookie }) => {
        const result = await auth.login(deps, body);
        setRefreshCookie(cookie, result.refresh_token);
        return ok(result);
      },
      {
        ipLimit: true,
        body: LoginBody,
        response: { 200: Envelope(AuthResult), ...errors },
        detail: {
          summary: "Log in with username or email",
          description: "Also sets the refresh token as an HttpOnly, SameSite=Strict cookie.",
        },
      },
    )
    .post(
      "/refresh",
      async ({ body, cookie }) => {
        const result = await auth.refresh(deps, body?.refresh_token ?? cookieToken(cookie));
        setRefreshCookie(cookie, result.refresh_token);
        return ok(result);
      },
      {
        ipLimit: true,
        body: RefreshBody,
        response: { 200: Envelope(AuthResult), ...errors },
        detail: {
          summary: "Exchange a refresh token for a new pair",
          description:
            "The presented token stops working. Presenting a used token again revokes its whole family (401).",
        },
      },
    )
    .post(
      "/logout",
      async ({ body, cookie, request }) => {
        const accessToken = bearerToken(request.headers.get("authorization"));
        const caller: Caller | null = accessToken ? await authenticate(deps, accessToken) : null;
        const refreshToken = body?.refresh_token ?? cookieToken(cookie);
        if (!caller && !refreshToken) throw unauthorized("send the access token or the refresh token to log out");
        await auth.logout(deps, { accessToken, sessionId: caller?.sessionId ?? null, refreshToken });
        cookie[COOKIE]!.set({ value: "", maxAge: 0, ...cookieOptions });
        return ok(null, "logged out");
      },
      {
        ipLimit: true,
        body: RefreshBody,
        response: { 200: Envelope(t.Null()), ...errors },
        detail: {
          summary: "Log out",
          description: "Revokes the session of the bearer token and/or the refresh token (body or cookie).",
        },
      },
    )
    .get(
      "/me",
      async ({ caller }) =>
        ok({ ...toPublicUser(caller.user), quota_info: await mySummary(deps.db, deps.config, caller.user.id) }),
      {
        auth: true,
        response: {
          200: Envelope(t.Composite([UserSchema, t.Object({ quota_info: ComputeSummarySchema })])),
          401: ErrorEnvelope,
          429: ErrorEnvelope,
        },
        detail: {
          summary: "The current user, with their compute power (quota_info, as GET /me/compute-power)",
          security: [{ bearer: [] }],
        },
      },
    );
}
