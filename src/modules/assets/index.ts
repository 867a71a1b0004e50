import { Elysia, t } from "elysia";
import { MAX_PAGE } from "../../core/page.ts";
import type { Deps } from "../../deps.ts";
import { authGuard, type Caller } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok, PageOf } from "../../http/envelope.ts";
import * as assets from "./service.ts";

const security = [{ bearer: [] }];
const uuid = t.String({ format: "uuid" });
const iso = t.String({ format: "date-time" });
const nullable = <T extends Parameters<typeof t.Union>[0][number]>(s: T) => t.Union([s, t.Null()]);

const Asset = t.Object({
  id: uuid,
  space_id: uuid,
  project_id: nullable(uuid),
  package_id: nullable(uuid),
  kind: t.String({ examples: ["keyframe", "upload_image"] }),
  type: t.Union([t.Literal("image"), t.Literal("video"), t.Literal("audio"), t.Literal("file")]),
  mime_type: t.String(),
  size: t.Integer(),
  sha256: t.String(),
  file_name: nullable(t.String()),
  width: nullable(t.Integer()),
  height: nullable(t.Integer()),
  duration_s: nullable(t.Number()),
  status: t.Union([t.Literal("active"), t.Literal("trashed")]),
  trashed_at: nullable(iso),
  download_count: t.Integer(),
  download_url: t.String({ description: "Signed, expiring link" }),
  thumbnail_url: nullable(t.String()),
  expires_at: iso,
  created_at: iso,
});
const Id = t.Object({ id: uuid });
const ids = (params: { id: string }, caller: Caller) => ({ userId: caller.user.id, assetId: params.id });

/** Assets (seed 000): every stored file of the caller's spaces, with download, trash, restore and permanent delete. */
export function assetsModule(deps: Deps) {
  const { db, storage } = deps;
  return new Elysia({ prefix: "/api/v1/assets", tags: ["assets"] })
    .use(authGuard(deps))
    .get("", async ({ query, caller }) => ok(await assets.listAssets(db, storage, { userId: caller.user.id }, query)), {
      auth: true,
      query: t.Object({
        project_id: t.Optional(uuid),
        package_id: t.Optional(uuid),
        type: t.Optional(t.Union([t.Literal("image"), t.Literal("video"), t.Literal("audio")])),
        kind: t.Optional(t.String({ maxLength: 40 })),
        status: t.Optional(t.Union([t.Literal("active"), t.Literal("trashed")], { default: "active" })),
        page: t.Optional(t.Integer({ minimum: 1, maximum: MAX_PAGE })),
        page_size: t.Optional(t.Integer({ minimum: 1, maximum: 100 })),
      }),
      response: { 200: Envelope(PageOf(Asset)), ...ErrorResponses },
      detail: { summary: "The assets of your spaces (made by runs, uploaded), latest first", security },
    })
    .get("/:id", async ({ params, caller }) => ok(await assets.getAsset(db, storage, ids(params, caller))), {
      spaceRole: "viewer",
      params: Id,
      response: { 200: Envelope(Asset), ...ErrorResponses },
      detail: { summary: "An asset with a signed, expiring download link", security },
    })
    .get(
      "/:id/download",
      async ({ params, caller }) => ok(await assets.downloadLink(db, storage, ids(params, caller))),
      {
        spaceRole: "viewer",
        params: Id,
        response: { 200: Envelope(t.Object({ download_url: t.String(), expires_at: iso })), ...ErrorResponses },
        detail: { summary: "A fresh signed link to the file (counted)", security },
      },
    )
    .post(
      "/:id/trash",
      async ({ params, caller }) => ok(await assets.setTrashed(db, storage, ids(params, caller), true)),
      {
        spaceRole: "editor",
        params: Id,
        response: { 200: Envelope(Asset), ...ErrorResponses },
        detail: {
          summary: "Move an asset to the trash (purged after ASSET_TRASH_RETENTION_DAYS unless in use)",
          security,
        },
      },
    )
    .post(
      "/:id/restore",
      async ({ params, caller }) => ok(await assets.setTrashed(db, storage, ids(params, caller), false)),
      {
        spaceRole: "editor",
        params: Id,
        response: { 200: Envelope(Asset), ...ErrorResponses },
        detail: { summary: "Take an asset back out of the trash", security },
      },
    )
    .delete(
      "/:id",
      async ({ params, query, caller }) =>
        ok(await assets.deleteAsset(db, { ...ids(params, caller), confirmToken: query.confirm_token })),
      {
        admin: true,
        params: Id,
        query: t.Object({ confirm_token: t.Optional(t.String({ minLength: 1, maxLength: 100 })) }),
        response: {
          200: Envelope(
            t.Object({
              deleted: t.Boolean(),
              confirm_token: nullable(t.String({ description: "Send it back within five minutes to delete" })),
              expires_at: nullable(iso),
            }),
          ),
          ...ErrorResponses,
        },
        detail: {
          summary: "Delete an asset and its file for good (ADMIN; confirmed with the token a first DELETE gives)",
          description: "409 while a material package or an export uses it, naming them in `details.used_by`.",
          security,
        },
      },
    );
}
