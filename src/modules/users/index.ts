import { Elysia, t } from "elysia";
import { conflict, forbidden, notFound } from "../../core/errors.ts";
import type { User } from "../../db/types.ts";
import type { Deps } from "../../deps.ts";
import { authGuard, requireAdmin } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok } from "../../http/envelope.ts";
import { UserSchema } from "../../schemas/users.ts";
import { checkUsername } from "../../services/username.ts";
import { deleteUser, findUserById, toPublicUser, updateUser } from "../../services/users.ts";
import { UserIdParams, UserPatchBody } from "./model.ts";

const security = [{ bearer: [] }];

/** Self or ADMIN may see a user; anyone else gets 404, as if the user did not exist. */
async function visibleUser(deps: Deps, caller: User, id: string) {
  if (caller.id !== id && caller.role !== "ADMIN") throw notFound("user");
  const user = await findUserById(deps.db, id);
  if (!user) throw notFound("user");
  return user;
}

export function usersModule(deps: Deps) {
  return new Elysia({ prefix: "/api/v1/users", tags: ["users"] })
    .use(authGuard(deps))
    .get("/:id", async ({ params, caller }) => ok(toPublicUser(await visibleUser(deps, caller.user, params.id))), {
      auth: true,
      params: UserIdParams,
      response: { 200: Envelope(UserSchema), ...ErrorResponses },
      detail: { summary: "Get a user (self or ADMIN)", security },
    })
    .patch(
      "/:id",
      async ({ params, body, caller }) => {
        await visibleUser(deps, caller.user, params.id);
        if (body.role !== undefined && caller.user.role !== "ADMIN") throw forbidden("only an ADMIN can change roles");
        if (body.username !== undefined) checkUsername(body.username);
        const user = await updateUser(deps.db, params.id, body, caller.sessionId ?? undefined);
        return ok(toPublicUser(user));
      },
      {
        auth: true,
        params: UserIdParams,
        body: UserPatchBody,
        response: { 200: Envelope(UserSchema), ...ErrorResponses },
        detail: {
          summary: "Update a user (self or ADMIN; only ADMIN changes roles)",
          description: "A password change signs the user out of every other session.",
          security,
        },
      },
    )
    .delete(
      "/:id",
      async ({ params, caller }) => {
        await visibleUser(deps, caller.user, params.id);
        requireAdmin(caller.user);
        if (params.id === caller.user.id) throw conflict("an ADMIN cannot delete their own account here");
        await deleteUser(deps.db, params.id);
        return ok(null, "user deleted");
      },
      {
        auth: true,
        params: UserIdParams,
        response: { 200: Envelope(t.Null()), ...ErrorResponses },
        detail: { summary: "Delete a user (ADMIN only)", security },
      },
    );
}
