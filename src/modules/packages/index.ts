import { Elysia, t } from "elysia";
import type { Deps } from "../../deps.ts";
import { authGuard, type Caller } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok } from "../../http/envelope.ts";
import * as packages from "./service.ts";

const security = [{ bearer: [] }];
const Id = t.Object({ id: t.String({ format: "uuid" }) });
const PackageSummary = t.Object({
  id: t.String({ format: "uuid" }),
  version: t.Integer(),
  package_name: t.String(),
  parent_id: t.Nullable(t.String({ format: "uuid" })),
  is_active: t.Boolean(),
  summary: t.Nullable(t.String()),
  created_at: t.String({ format: "date-time" }),
  updated_at: t.String({ format: "date-time" }),
});
const PackageDetail = t.Unknown({
  description:
    "{id, project_id, version, package_name, is_active, materials: {storyline, art_style, characters, scenes, shots, music}}",
});

/** The ids a package service takes, from the route's params and its caller. */
const ids = (params: { id: string }, caller: Caller) => ({ userId: caller.user.id, packageId: params.id });

/** Versioned material packages: list, get, switch, rename, save as a new version. */
export function packagesModule(deps: Deps) {
  const { db } = deps;
  return new Elysia({ prefix: "/api/v1", tags: ["material packages"] })
    .use(authGuard(deps))
    .get(
      "/projects/:id/material-packages",
      async ({ params, caller }) =>
        ok({ list: await packages.listPackages(db, { userId: caller.user.id, projectId: params.id }) }),
      {
        spaceRole: "viewer",
        params: Id,
        response: { 200: Envelope(t.Object({ list: t.Array(PackageSummary) })), ...ErrorResponses },
        detail: { summary: "Material package versions of a project", security },
      },
    )
    .get(
      "/material-packages/:id",
      async ({ params, caller }) => ok(await packages.getPackage(db, ids(params, caller))),
      {
        spaceRole: "viewer",
        params: Id,
        response: { 200: Envelope(PackageDetail), ...ErrorResponses },
        detail: { summary: "A material package with everything in it", security },
      },
    )
    .post(
      "/material-packages/:id/switch",
      async ({ params, caller }) => ok(await packages.switchPackage(db, ids(params, caller))),
      {
        spaceRole: "editor",
        params: Id,
        response: { 200: Envelope(PackageDetail), ...ErrorResponses },
        detail: { summary: "Make this version the active one", security },
      },
    )
    .put(
      "/material-packages/:id",
      async ({ params, body, caller }) => ok(await packages.renamePackage(db, ids(params, caller), body.package_name)),
      {
        spaceRole: "editor",
        params: Id,
        body: t.Object({ package_name: t.String({ minLength: 1, maxLength: 100 }) }),
        response: { 200: Envelope(PackageDetail), ...ErrorResponses },
        detail: { summary: "Rename a version", security },
      },
    )
    .post(
      "/material-packages/:id/switch-voice",
      async ({ params, body, caller }) =>
        ok(
          await packages.switchVoice(
            db,
            { ...ids(params, caller), voiceId: body.voice_id },
            body.character ?? null,
            body.speech_speed,
          ),
        ),
      {
        spaceRole: "editor",
        params: Id,
        body: t.Object({
          character: t.Optional(
            t.Nullable(
              t.String({
                minLength: 1,
                maxLength: 60,
                description: "The character's name; null or absent for the narrator",
              }),
            ),
          ),
          voice_id: t.String({ minLength: 1, maxLength: 100 }),
          speech_speed: t.Optional(t.Number({ minimum: 0.5, maximum: 2 })),
        }),
        response: {
          200: Envelope(
            t.Object({ character: t.Nullable(t.String()), voice_id: t.String(), lines_changed: t.Integer() }),
          ),
          ...ErrorResponses,
        },
        detail: {
          summary: "Give a character or the narrator another voice (their lines are spoken again by the next export)",
          security,
        },
      },
    )
    .post(
      "/material-packages/:id/modify/text",
      async ({ params, body, caller }) => ok(await packages.modifyText(db, ids(params, caller), body)),
      {
        spaceRole: "editor",
        params: Id,
        body: t.Object({
          element: t.Union([t.Literal("storyline"), t.Literal("character"), t.Literal("scene"), t.Literal("shot")]),
          id: t.Optional(t.String({ minLength: 1, maxLength: 64, description: "Character name, scene id or shot id" })),
          field: t.String({ minLength: 1, maxLength: 40 }),
          value: t.String({ minLength: 1, maxLength: 4000 }),
        }),
        response: { 200: Envelope(PackageDetail), ...ErrorResponses },
        detail: { summary: "Edit a text element of the package", security },
      },
    )
    .post(
      "/material-packages/:id/regenerate/image",
      async ({ params, body, caller, set }) => {
        set.status = 202;
        const target = { element: body.element, id: body.id };
        return ok(await packages.regenerateImage(db, ids(params, caller), target, body.seed));
      },
      {
        spaceRole: "editor",
        params: Id,
        body: t.Object({
          element: t.Union([t.Literal("character"), t.Literal("scene"), t.Literal("shot")]),
          id: t.String({ minLength: 1, maxLength: 64, description: "Character name, scene id or shot id" }),
          seed: t.Optional(t.Integer({ minimum: 1, maximum: 2_147_483_647 })),
        }),
        response: {
          202: Envelope(
            t.Object({ job_ids: t.Array(t.String({ format: "uuid" })), generation_status: t.Literal("pending") }),
          ),
          ...ErrorResponses,
        },
        detail: { summary: "Make a new candidate image for a character, scene or shot (selected when made)", security },
      },
    )
    .post(
      "/material-packages/:id/select-candidate",
      async ({ params, body, caller }) =>
        ok(
          await packages.selectImage(
            db,
            { ...ids(params, caller), assetId: body.asset_id },
            { element: body.element, id: body.id },
          ),
        ),
      {
        spaceRole: "editor",
        params: Id,
        body: t.Object({
          element: t.Union([t.Literal("character"), t.Literal("scene")]),
          id: t.String({ minLength: 1, maxLength: 64 }),
          asset_id: t.String({ format: "uuid" }),
        }),
        response: { 200: Envelope(PackageDetail), ...ErrorResponses },
        detail: {
          summary: "Use another candidate image for a character or scene (a character's shots get stale keyframes)",
          security,
        },
      },
    )
    .post(
      "/material-packages/:id/save-new",
      async ({ params, body, caller, set }) => {
        set.status = 201;
        return ok(await packages.saveAsNew(db, ids(params, caller), body?.package_name));
      },
      {
        spaceRole: "editor",
        params: Id,
        body: t.Optional(t.Object({ package_name: t.Optional(t.String({ minLength: 1, maxLength: 100 })) })),
        response: {
          201: Envelope(t.Object({ new_package_id: t.String({ format: "uuid" }), version: t.Integer() })),
          ...ErrorResponses,
        },
        detail: { summary: "Save a copy as a new version", security },
      },
    );
}
