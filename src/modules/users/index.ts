import { Elysia, t } from "elysia";
import { conflict, forbidden } from "../../core/errors.ts";
import type { Deps } from "../../deps.ts";
import { authGuard } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok } from "../../http/envelope.ts";
import { UserSchema } from "../../schemas/users.ts";
import { checkUsername } from "../../services/username.ts";
import { deleteUser, toPublicUser, updateUser, visibleUser } from "../../services/users.ts";
import { UserIdParams, UserPatchBody } from "./model.ts";

const security = [{ bearer: [] }];

export function usersModule(deps: Deps) {
  return new Elysia({ prefix: "/api/v1/users", tags: ["users"] })
    .use(authGuard(deps))
    .get("/:id", async ({ params, caller }) => ok(toPublicUser(await visibleUser(deps.db, caller.user, params.id))), {
      auth: true,
      params: UserIdParams,
      response: { 200: Envelope(UserSchema), ...ErrorResponses },
      detail: { summary: "Get a user (self or ADMIN)", security },
    })
    .patch(
      "/:id",
      async ({ params, body, caller }) => {
        await visibleUser(deps.db, caller.user, params.id);
        // A field only an ADMIN may set, on a route everyone may use for themselves.
        if (body.role !== undefined && caller.user.role !== "ADMIN") throw forbidden("only an ADMIN can change roles");
        if (body.tier !== undefined && caller.user.role !== "ADMIN") throw forbidden("only an ADMIN can change tiers");
        if (body.username !== undefined) checkUsername(body.username);
        const ids = { userId: params.id, keepSessionId: caller.sessionId ?? undefined };
        const user = await updateUser(deps.db, ids, body);
        return ok(toPublicUser(user));
      },
      {
        auth: true,
        params: UserIdParams,
        body: UserPatchBody,
        response: { 200: Envelope(UserSchema), ...ErrorResponses },
        detail: {
          summary: "Update a user (self or ADMIN; only ADMIN changes roles and tiers)",
          description: "A password change signs the user out of every other session.",
          security,
        },
      },
    )
    .delete(
      "/:id",
      async ({ params, caller }) => {
        if (params.id === caller.user.id) throw conflict("an ADMIN cannot delete their own account here");
        await deleteUser(deps.db, params.id);
        return ok(null, "user deleted");
      },
      {
        admin: true,
        params: UserIdParams,
        response: { 200: Envelope(t.Null()), ...ErrorResponses },
        detail: { summary: "Delete a user (ADMIN only)", security },
      },
    );
}
