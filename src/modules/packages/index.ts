import { Elysia, t } from "elysia";
import { literals } from "../../core/schema.ts";
import type { Deps } from "../../deps.ts";
import { authGuard, type Caller } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok, PageOf, PageQuery } from "../../http/envelope.ts";
import { ImageSteerFields, QueuedTasks } from "../../schemas/regenerate.ts";
import { REPLACE_TARGETS, replaceFromLibrary } from "./replace.ts";
import * as packages from "./service.ts";
import { MaterialsSchema } from "./view.ts";

const security = [{ bearer: [] }];
const Metadata = t.Record(
  t.String({ maxLength: 64 }),
  t.Union([t.String({ maxLength: 1000 }), t.Number(), t.Boolean(), t.Null()]),
  {
    maxProperties: 50,
    description: "Flat keys with plain values",
  },
);
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
export const PackageDetail = t.Object({
  id: t.String({ format: "uuid" }),
  project_id: t.String({ format: "uuid" }),
  version: t.Integer(),
  package_name: t.String(),
  note: t.String(),
  metadata: Metadata,
  is_active: t.Boolean(),
  materials: MaterialsSchema,
});
const VoiceCandidates = t.Object({
  character: t.Nullable(t.String()),
  provider: t.Nullable(t.String()),
  current_voice_id: t.Nullable(t.String()),
  voices: t.Array(
    t.Object({
      voice_id: t.String(),
      name: t.String(),
      gender: t.Nullable(t.String()),
      age: t.Nullable(t.String()),
      language: t.Nullable(t.String()),
      description: t.Nullable(t.String()),
      preview_url: t.Nullable(t.String({ description: "The provider's sample, when it has one" })),
      selected: t.Boolean(),
    }),
  ),
});
const ConversationEntry = t.Object({
  id: t.Integer(),
  package_id: t.Nullable(t.String({ format: "uuid" })),
  user_id: t.Nullable(t.String({ format: "uuid" })),
  role: t.Union([t.Literal("user"), t.Literal("system")]),
  content: t.String(),
  action: t.Object({
    action: t.String(),
    element: t.Optional(t.String()),
    id: t.Optional(t.String()),
    field: t.Optional(t.String()),
  }),
  created_at: t.String({ format: "date-time" }),
});

/** The ids a package service takes, from the route's params and its caller. */
const ids = (params: { id: string }, caller: Caller) => ({ userId: caller.user.id, packageId: params.id });

/** Versioned material packages: list, get, switch, rename, save as a new version. */
export function packagesModule(deps: Deps) {
  const { db, storage } = deps;
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
      async ({ params, caller }) => ok(await packages.getPackage({ db, storage }, ids(params, caller))),
      {
        spaceRole: "viewer",
        params: Id,
        response: { 200: Envelope(PackageDetail), ...ErrorResponses },
        detail: { summary: "A material package with everything in it", security },
      },
    )
    .post(
      "/material-packages/:id/switch",
      async ({ params, caller }) => ok(await packages.switchPackage({ db, storage }, ids(params, caller))),
      {
        spaceRole: "editor",
        params: Id,
        response: { 200: Envelope(PackageDetail), ...ErrorResponses },
        detail: { summary: "Make this version the active one", security },
      },
    )
    .put(
      "/material-packages/:id",
      async ({ params, body, caller }) =>
        ok(await packages.renamePackage({ db, storage }, ids(params, caller), body.package_name)),
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
      "/material-packages/:id/replace-from-asset",
      async ({ params, body, caller }) =>
        ok(
          await replaceFromLibrary(
            db,
            { ...ids(params, caller), itemId: body.library_item_id },
            { target: body.target, ...(body.element_id !== undefined ? { element_id: body.element_id } : {}) },
          ),
        ),
      {
        spaceRole: "editor",
        params: Id,
        body: t.Object({
          target: literals(REPLACE_TARGETS, {
            description: "What the library item replaces: a character, the art style, a voice or the background music",
          }),
          element_id: t.Optional(
            t.String({
              minLength: 1,
              maxLength: 60,
              description:
                "The character's name (character: required; voice: whose voice, absent for the narrator); not sent for style or bgm",
            }),
          ),
          library_item_id: t.String({
            format: "uuid",
            description: "A library item of the project's space, of the target's kind (bgm: a music item)",
          }),
        }),
        response: {
          200: Envelope(
            t.Object({
              target: literals(REPLACE_TARGETS),
              element_id: t.Nullable(t.String()),
              library_item_id: t.String({ format: "uuid" }),
              stale: t.Object({
                keyframes: t.Integer({ description: "Keyframes the next export redraws" }),
                lines: t.Integer({ description: "Lines the next export speaks again" }),
                soundtrack: t.Boolean({ description: "The next export mixes the new track" }),
              }),
            }),
          ),
          ...ErrorResponses,
        },
        detail: {
          summary: "Replace a character, the art style, a voice or the music with a library item (seed 003 §3.4.5)",
          description:
            "Exactly what was made from the old material is marked stale: the character's (or every) keyframe, the lines of the voice that changed. The item's use is counted.",
          security,
        },
      },
    )
    .post(
      "/material-packages/:id/modify/text",
      async ({ params, body, caller }) => ok(await packages.modifyText(deps, ids(params, caller), body)),
      {
        spaceRole: "editor",
        params: Id,
        body: t.Object({
          element: t.Union([
            t.Literal("storyline"),
            t.Literal("art_style"),
            t.Literal("character"),
            t.Literal("scene"),
            t.Literal("shot"),
            t.Literal("line"),
          ]),
          id: t.Optional(
            t.String({
              minLength: 1,
              maxLength: 80,
              description: "Character name, scene id, shot id or line id (none for the storyline and art style)",
            }),
          ),
          field: t.String({
            minLength: 1,
            maxLength: 40,
            description:
              "storyline: title, logline, summary, tone, genre; art_style: name, prompt; character: name, description, personality; scene: location, summary; shot: description; line: text",
          }),
          value: t.Optional(t.String({ minLength: 1, maxLength: 4000, description: "The new text" })),
          instruction: t.Optional(
            t.String({
              minLength: 1,
              maxLength: 4000,
              description:
                "Instead of value: how the text model should rewrite the field (a cloud text model; 422 on the local one)",
            }),
          ),
        }),
        response: { 200: Envelope(PackageDetail), ...ErrorResponses },
        detail: { summary: "Edit a text element of the package: new text, or an instruction to rewrite it", security },
      },
    )
    .post(
      "/material-packages/:id/regenerate/image",
      async ({ params, body, caller, set }) => {
        set.status = 202;
        const target = { element: body.element, id: body.id };
        const { element: _e, id: _i, ...steer } = body;
        return ok(await packages.regenerateImage(deps, ids(params, caller), target, steer));
      },
      {
        spaceRole: "editor",
        params: Id,
        body: t.Object({
          element: t.Union([t.Literal("character"), t.Literal("scene"), t.Literal("shot")]),
          id: t.String({ minLength: 1, maxLength: 64, description: "Character name, scene id or shot id" }),
          ...ImageSteerFields,
        }),
        response: {
          202: Envelope(QueuedTasks),
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
            { db, storage },
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
        return ok(await packages.saveAsNew(db, ids(params, caller), body ?? {}));
      },
      {
        spaceRole: "editor",
        params: Id,
        body: t.Optional(
          t.Object({
            package_name: t.Optional(t.String({ minLength: 1, maxLength: 100 })),
            note: t.Optional(t.String({ maxLength: 2000 })),
            metadata: t.Optional(Metadata),
          }),
        ),
        response: {
          201: Envelope(t.Object({ new_package_id: t.String({ format: "uuid" }), version: t.Integer() })),
          ...ErrorResponses,
        },
        detail: { summary: "Save a copy as a new version", security },
      },
    )
    .get(
      "/material-packages/:id/voices",
      async ({ params, query, caller }) => ok(await packages.voiceCandidates(db, ids(params, caller), query.character)),
      {
        spaceRole: "viewer",
        params: Id,
        query: t.Object({
          character: t.Optional(t.String({ minLength: 1, maxLength: 60, description: "Absent: the narrator" })),
        }),
        response: { 200: Envelope(VoiceCandidates), ...ErrorResponses },
        detail: {
          summary: "Voices a character or the narrator can be given (choose one with switch-voice)",
          security,
        },
      },
    )
    .get(
      "/projects/:id/conversation",
      async ({ params, query, caller }) =>
        ok(await packages.projectConversation(db, { userId: caller.user.id, projectId: params.id }, query)),
      {
        spaceRole: "viewer",
        params: Id,
        query: PageQuery,
        response: { 200: Envelope(PageOf(ConversationEntry)), ...ErrorResponses },
        detail: { summary: "The project's conversation log: every edit asked and answered, newest first", security },
      },
    );
}
