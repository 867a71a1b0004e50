import { Elysia, t } from "elysia";
import { ProjectOptions } from "../../core/project-options.ts";
import type { Deps } from "../../deps.ts";
import { authGuard, type Caller } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok } from "../../http/envelope.ts";
import * as templates from "./service.ts";

const security = [{ bearer: [] }];
const uuid = t.String({ format: "uuid" });
const Template = t.Object({
  id: uuid,
  space_id: uuid,
  name: t.String(),
  description: t.String(),
  options: ProjectOptions,
  created_by: t.Union([uuid, t.Null()]),
  created_at: t.String({ format: "date-time" }),
});
const space = (params: { id: string }, caller: Caller) => ({ userId: caller.user.id, spaceId: params.id });

/** Config templates (seed 003 §2.3): a space's saved project settings; POST /projects takes `template_id`. */
export function templatesModule(deps: Deps) {
  const { db } = deps;
  return new Elysia({ prefix: "/api/v1/spaces/:id/config-templates", tags: ["config templates"] })
    .use(authGuard(deps))
    .get("", async ({ params, caller }) => ok(await templates.listTemplates(db, space(params, caller))), {
      spaceRole: "viewer",
      params: t.Object({ id: uuid }),
      response: { 200: Envelope(t.Array(Template)), ...ErrorResponses },
      detail: { summary: "The space's config templates, by name", security },
    })
    .post(
      "",
      async ({ params, body, caller, set }) => {
        set.status = 201;
        return ok(await templates.saveTemplate(db, space(params, caller), body));
      },
      {
        spaceRole: "editor",
        params: t.Object({ id: uuid }),
        body: t.Object({
          name: t.String({ minLength: 1, maxLength: 100 }),
          description: t.Optional(t.String({ maxLength: 1000 })),
          options: t.Optional(ProjectOptions),
          project_id: t.Optional(
            t.String({ format: "uuid", description: "Save this project's options (with `options` over them)" }),
          ),
        }),
        response: { 201: Envelope(Template), ...ErrorResponses },
        detail: { summary: "Save project options as a named template of the space", security },
      },
    );
}
