import { Elysia, t } from "elysia";
import type { Deps } from "../../deps.ts";
import { authGuard, type Caller } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok } from "../../http/envelope.ts";
import * as attachments from "./service.ts";

const security = [{ bearer: [] }];
const uuid = t.String({ format: "uuid" });
const iso = t.String({ format: "date-time" });
const Label = t.String({
  minLength: 1,
  maxLength: 40,
  description:
    "character, scene, style, reference, or free text. A character picture becomes that character's reference; a style picture guides the art style.",
});
const Character = t.String({ minLength: 1, maxLength: 60, description: "Whose picture a character attachment is" });
const Note = t.String({ maxLength: 500 });

const Attachment = t.Object({
  id: uuid,
  project_id: uuid,
  asset_id: uuid,
  label: t.String(),
  metadata: t.Object({ character: t.Optional(t.String()), note: t.Optional(t.String()) }),
  file_name: t.Union([t.String(), t.Null()]),
  file_type: t.String(),
  file_category: t.Union([t.Literal("image"), t.Literal("video"), t.Literal("audio"), t.Literal("file")]),
  file_size: t.Integer(),
  file_url: t.String({ description: "Signed, expiring link" }),
  thumbnail_url: t.Union([t.String(), t.Null()]),
  expires_at: iso,
  created_at: iso,
});
const Id = t.Object({ id: uuid });
const project = (params: { id: string }, caller: Caller) => ({ userId: caller.user.id, projectId: params.id });
const attachment = (params: { id: string }, caller: Caller) => ({ userId: caller.user.id, attachmentId: params.id });

/** Attachments (seed 003 §2.2): uploads attached to a project with a label. */
export function attachmentsModule(deps: Deps) {
  const { db, storage } = deps;
  return new Elysia({ name: "attachments", prefix: "/api/v1", tags: ["attachments"] })
    .use(authGuard(deps))
    .post(
      "/projects/:id/attachments",
      async ({ params, body, caller, set }) => {
        set.status = 201;
        return ok(await attachments.attach(db, storage, project(params, caller), body));
      },
      {
        spaceRole: "editor",
        params: Id,
        body: t.Object({
          asset_id: t.String({ format: "uuid", description: "An upload of the project's space" }),
          label: Label,
          character: t.Optional(Character),
          note: t.Optional(Note),
        }),
        response: { 201: Envelope(Attachment), ...ErrorResponses },
        detail: { summary: "Attach an upload to the project with a label", security },
      },
    )
    .get(
      "/projects/:id/attachments",
      async ({ params, query, caller }) =>
        ok(await attachments.listAttachments(db, storage, project(params, caller), query)),
      {
        spaceRole: "viewer",
        params: Id,
        query: t.Object({
          category: t.Optional(t.Union([t.Literal("image"), t.Literal("video"), t.Literal("audio")])),
          label: t.Optional(t.String({ minLength: 1, maxLength: 40 })),
        }),
        response: { 200: Envelope(t.Array(Attachment)), ...ErrorResponses },
        detail: { summary: "The project's attachments, oldest first", security },
      },
    )
    .put(
      "/attachments/:id",
      async ({ params, body, caller }) =>
        ok(await attachments.updateAttachment(db, storage, attachment(params, caller), body)),
      {
        spaceRole: "editor",
        params: Id,
        body: t.Object({ label: t.Optional(Label), character: t.Optional(Character), note: t.Optional(Note) }),
        response: { 200: Envelope(Attachment), ...ErrorResponses },
        detail: { summary: "Change an attachment's label, or whose picture it is", security },
      },
    )
    .delete(
      "/attachments/:id",
      async ({ params, caller }) => ok(await attachments.detach(db, attachment(params, caller))),
      {
        spaceRole: "editor",
        params: Id,
        response: { 200: Envelope(t.Object({ deleted: t.Literal(true) })), ...ErrorResponses },
        detail: { summary: "Detach it (the upload stays)", security },
      },
    );
}
