import { Elysia, type TSchema, t } from "elysia";
import {
  CharacterData,
  type LibraryData,
  type LibraryKind,
  MusicData,
  StyleData,
  VoiceData,
} from "../../core/library-item.ts";
import { literals } from "../../core/schema.ts";
import type { Deps } from "../../deps.ts";
import { authGuard, type Caller } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok, PageOf, PageQuery } from "../../http/envelope.ts";
import { SAVE_TARGETS, saveToLibrary } from "./from-package.ts";
import * as library from "./service.ts";

const security = [{ bearer: [] }];
const uuid = t.String({ format: "uuid" });
const iso = t.String({ format: "date-time" });
const Id = t.Object({ id: uuid });
const Tags = t.Array(t.String({ minLength: 1, maxLength: 40 }), { maxItems: 20 });
const Link = t.Object({ asset_id: uuid, url: t.String(), thumbnail_url: t.Union([t.String(), t.Null()]) });

const Common = t.Object({
  id: t.String({ description: "A uuid; presets have ids of the form preset:<kind>:…" }),
  kind: t.Union([t.Literal("character"), t.Literal("style"), t.Literal("voice"), t.Literal("music")]),
  space_id: t.Union([uuid, t.Null()], { description: "Null for presets" }),
  name: t.String(),
  description: t.String(),
  tags: t.Array(t.String()),
  usage_count: t.Union([t.Integer(), t.Null()], {
    description: "How many projects have cast the item (null for presets)",
  }),
  is_preset: t.Boolean(),
  created_by: t.Union([uuid, t.Null()]),
  created_at: iso,
  updated_at: iso,
});

const Views = {
  character: t.Composite([Common, CharacterData, t.Object({ reference_images: t.Array(Link) })]),
  style: t.Composite([Common, StyleData, t.Object({ preview: t.Union([Link, t.Null()]) })]),
  voice: t.Composite([Common, VoiceData, t.Object({ sample_url: t.Union([t.String(), t.Null()]) })]),
  music: t.Composite([Common, MusicData, t.Object({ audio_url: t.Union([t.String(), t.Null()]) })]),
};

const Naming = t.Object({
  name: t.String({ minLength: 1, maxLength: 100 }),
  description: t.Optional(t.String({ maxLength: 2000 })),
  tags: t.Optional(Tags),
});
const InSpace = t.Object({
  space_id: t.Optional(t.String({ format: "uuid", description: "Default: your current space" })),
});

/** What a client sends to create each kind: the rest of its data has defaults (a track's length is read from it). */
const Creates = {
  character: t.Composite([Naming, InSpace, t.Partial(CharacterData)]),
  style: t.Composite([
    Naming,
    InSpace,
    t.Pick(StyleData, ["prompt_template"]),
    t.Partial(t.Omit(StyleData, ["prompt_template"])),
  ]),
  voice: t.Composite([
    Naming,
    InSpace,
    t.Pick(VoiceData, ["provider", "voice_id"]),
    t.Partial(t.Omit(VoiceData, ["provider", "voice_id", "cloned"])),
  ]),
  music: t.Composite([
    Naming,
    InSpace,
    t.Pick(MusicData, ["asset_id"]),
    t.Partial(t.Pick(MusicData, ["mood", "genre", "bpm"])),
  ]),
};
const Updates = {
  character: t.Composite([t.Partial(Naming), t.Partial(CharacterData)]),
  style: t.Composite([t.Partial(Naming), t.Partial(StyleData)]),
  voice: t.Composite([t.Partial(Naming), t.Partial(t.Omit(VoiceData, ["cloned"]))]),
  music: t.Composite([t.Partial(Naming), t.Partial(t.Pick(MusicData, ["asset_id", "mood", "genre", "bpm"]))]),
};

const ListQuery = t.Composite([
  PageQuery,
  t.Object({
    q: t.Optional(t.String({ minLength: 1, maxLength: 100, description: "In the name, description or tags" })),
    tag: t.Optional(t.String({ minLength: 1, maxLength: 40 })),
    is_preset: t.Optional(t.Boolean()),
    space_id: t.Optional(t.String({ format: "uuid", description: "Default: your current space" })),
  }),
]);
const Filters = {
  character: t.Object({
    gender: t.Optional(t.Union([t.Literal("male"), t.Literal("female"), t.Literal("unknown")])),
  }),
  style: t.Object({}),
  voice: t.Object({
    gender: t.Optional(t.Union([t.Literal("male"), t.Literal("female"), t.Literal("neutral"), t.Literal("unknown")])),
    language: t.Optional(t.String({ pattern: "^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$" })),
    voice_type: t.Optional(t.Union([t.Literal("narration"), t.Literal("dialogue"), t.Literal("any")])),
  }),
  music: t.Object({
    mood: t.Optional(t.String({ minLength: 1, maxLength: 40 })),
    genre: t.Optional(t.String({ minLength: 1, maxLength: 40 })),
  }),
};

const PLURAL = { character: "characters", style: "styles", voice: "voices", music: "music" } as const;
const scope = (caller: Caller, spaceId?: string) => ({
  userId: caller.user.id,
  currentSpaceId: caller.user.current_space_id,
  ...(spaceId ? { spaceId } : {}),
});
const item = (params: { id: string }, caller: Caller) => ({ userId: caller.user.id, itemId: params.id });

/** CRUD of one kind of library item under /api/v1/library/<kind plural>. */
function kindRoutes<K extends LibraryKind>(
  deps: Deps,
  kind: K,
  schemas: { view: TSchema; create: TSchema; update: TSchema; filter: TSchema },
) {
  const { db, storage } = deps;
  const plural = PLURAL[kind];
  return new Elysia({ name: `library-${kind}`, prefix: `/api/v1/library/${plural}`, tags: ["library"] })
    .use(authGuard(deps))
    .get(
      "",
      async ({ query, caller }) => {
        const { space_id, ...filter } = query as { space_id?: string } & library.ListFilter;
        return ok(await library.listItems(db, storage, scope(caller, space_id), kind, filter));
      },
      {
        spaceRole: "viewer",
        query: t.Composite([ListQuery, schemas.filter]),
        response: { 200: Envelope(PageOf(schemas.view)), ...ErrorResponses },
        detail: { summary: `Library ${plural}: the space's own first, then presets`, security },
      },
    )
    .post(
      "",
      async ({ body, caller, set }) => {
        const { name, description, tags, space_id, ...data } = body as library.ItemInput<Record<string, unknown>> & {
          space_id?: string;
        };
        // The body's schema is the kind's data (with defaults to come): what is left of it is that data.
        set.status = 201;
        return ok(
          await library.createItem(db, storage, scope(caller, space_id), kind, {
            name,
            description,
            tags,
            data: data as unknown as LibraryData,
          }),
        );
      },
      {
        spaceRole: "editor",
        body: schemas.create,
        response: { 201: Envelope(schemas.view), ...ErrorResponses },
        detail: { summary: `Add a ${kind} to the space's library`, security },
      },
    )
    .get("/:id", async ({ params, caller }) => ok(await library.getItem(db, storage, item(params, caller), kind)), {
      spaceRole: "viewer",
      params: Id,
      response: { 200: Envelope(schemas.view), ...ErrorResponses },
      detail: { summary: `A library ${kind}`, security },
    })
    .patch(
      "/:id",
      async ({ params, body, caller }) => {
        const { name, description, tags, ...data } = body as Partial<library.ItemInput<Record<string, unknown>>>;
        return ok(
          await library.updateItem(db, storage, item(params, caller), kind, {
            name,
            description,
            tags,
            data: data as unknown as Partial<LibraryData>,
          }),
        );
      },
      {
        spaceRole: "editor",
        params: Id,
        body: schemas.update,
        response: { 200: Envelope(schemas.view), ...ErrorResponses },
        detail: { summary: `Change a library ${kind}`, security },
      },
    )
    .delete("/:id", async ({ params, caller }) => ok(await library.deleteItem(db, item(params, caller), kind)), {
      spaceRole: "editor",
      params: Id,
      response: { 200: Envelope(t.Object({ deleted: t.Literal(true) })), ...ErrorResponses },
      detail: {
        summary: `Delete a library ${kind}`,
        description: "Projects that cast it keep what they took from it; its files stay as the space's uploads.",
        security,
      },
    });
}

const KindList = t.Array(
  t.Union([t.Literal("character"), t.Literal("style"), t.Literal("voice"), t.Literal("music")]),
  {
    minItems: 1,
    maxItems: 4,
  },
);

/** The asset library (seed 003 §6): characters, styles, voices and music of a space, plus presets. */
export function libraryModule(deps: Deps) {
  const { db, storage, config } = deps;
  const routes = <K extends LibraryKind>(k: K) =>
    kindRoutes(deps, k, { view: Views[k], create: Creates[k], update: Updates[k], filter: Filters[k] });
  return new Elysia({ name: "library" })
    .use(routes("character"))
    .use(routes("style"))
    .use(routes("voice"))
    .use(routes("music"))
    .use(authGuard(deps))
    .post(
      "/api/v1/material-packages/:id/save-to-library",
      async ({ params, body, caller, set }) => {
        set.status = 201;
        return ok(await saveToLibrary(db, storage, { userId: caller.user.id, packageId: params.id }, body));
      },
      {
        spaceRole: "editor",
        params: Id,
        body: t.Object({
          target: literals(SAVE_TARGETS, {
            description: "A character (with its pictures and voice), the art style, a voice, or the track in use",
          }),
          element_id: t.Optional(
            t.String({
              minLength: 1,
              maxLength: 60,
              description: "The character's name (character: required; voice: whose, absent for the narrator)",
            }),
          ),
          name: t.Optional(t.String({ minLength: 1, maxLength: 100, description: "Default: the material's own name" })),
          tags: t.Optional(Tags),
        }),
        response: {
          201: Envelope(t.Union([Views.character, Views.style, Views.voice, Views.music])),
          ...ErrorResponses,
        },
        detail: {
          tags: ["library"],
          summary: "Save a package's character, art style, voice or music to the project's space library",
          description:
            "The new item points at the package's stored files (pictures, a spoken line as the voice's sample, the track); cast it in other projects with subject_ids, style_id, voice_ids or replace-from-asset.",
          security,
        },
      },
    )
    .group("/api/v1/library", { detail: { tags: ["library"] } }, (g) =>
      g
        .use(authGuard(deps))
        .post(
          "/voices/clone",
          async ({ body, caller, set }) => {
            const { space_id, ...input } = body;
            set.status = 201;
            return ok(await library.cloneVoice({ db, storage, config }, scope(caller, space_id), input));
          },
          {
            spaceRole: "editor",
            body: t.Composite([
              Naming,
              InSpace,
              t.Object({
                sample_asset_ids: t.Array(uuid, {
                  minItems: 1,
                  maxItems: 5,
                  uniqueItems: true,
                  description: "Recordings of the voice: audio uploads of the space",
                }),
              }),
              t.Partial(t.Pick(VoiceData, ["gender", "language", "voice_type"])),
            ]),
            response: { 201: Envelope(Views.voice), ...ErrorResponses },
            detail: {
              summary: "Clone a voice from your recordings (ElevenLabs instant voice clone)",
              description:
                "The recordings go to ElevenLabs through its SDK's voice-add call; the new voice is a library voice of the space (provider elevenlabs, cloned: true). 422 when the server has no ElevenLabs key.",
              security,
            },
          },
        )
        .get(
          "/search",
          async ({ query, caller }) => {
            const { space_id, types, ...filter } = query;
            return ok(
              await library.search(db, storage, scope(caller, space_id), {
                ...filter,
                types: types ?? ["character", "style", "voice", "music"],
              }),
            );
          },
          {
            spaceRole: "viewer",
            query: t.Composite([
              PageQuery,
              t.Object({
                q: t.Optional(t.String({ minLength: 1, maxLength: 100, description: "Without it: every item" })),
                types: t.Optional(KindList),
                space_id: t.Optional(t.String({ format: "uuid" })),
              }),
            ]),
            response: {
              200: Envelope(
                t.Object({
                  q: t.Union([t.String(), t.Null()]),
                  results: t.Object({
                    characters: t.Optional(PageOf(Views.character)),
                    styles: t.Optional(PageOf(Views.style)),
                    voices: t.Optional(PageOf(Views.voice)),
                    music: t.Optional(PageOf(Views.music)),
                  }),
                }),
              ),
              ...ErrorResponses,
            },
            detail: {
              summary: "Search the library across kinds: a page of each kind asked for (types, default all)",
              security,
            },
          },
        )
        .get(
          "/categories",
          async ({ query, caller }) => ok(await library.categories(db, scope(caller, query.space_id))),
          {
            spaceRole: "viewer",
            query: t.Object({ space_id: t.Optional(t.String({ format: "uuid" })) }),
            response: {
              200: Envelope(
                t.Array(
                  t.Object({
                    kind: t.Union([t.Literal("character"), t.Literal("style"), t.Literal("voice"), t.Literal("music")]),
                    count: t.Integer(),
                    own: t.Integer(),
                    presets: t.Integer(),
                    tags: t.Array(t.Object({ tag: t.String(), count: t.Integer() })),
                  }),
                ),
              ),
              ...ErrorResponses,
            },
            detail: { summary: "How many items of each kind the space has, own and preset, and by tag", security },
          },
        )
        .post(
          "/batch-delete",
          async ({ body, caller }) =>
            ok(await library.batchDelete(db, scope(caller, body.space_id), body.ids, body.kind)),
          {
            spaceRole: "editor",
            body: t.Object({
              space_id: t.Optional(t.String({ format: "uuid", description: "Default: your current space" })),
              ids: t.Array(uuid, { minItems: 1, maxItems: 500 }),
              kind: t.Optional(
                t.Union([t.Literal("character"), t.Literal("style"), t.Literal("voice"), t.Literal("music")], {
                  description: "Every id must be of this kind",
                }),
              ),
            }),
            response: { 200: Envelope(t.Object({ deleted: t.Integer() })), ...ErrorResponses },
            detail: {
              summary: "Delete many library items in one transaction: all, or none",
              description:
                "Items of one space (an editor there): an id that is not one of its items (or not of `kind`) is 404 naming it, and then nothing is deleted.",
              security,
            },
          },
        ),
    );
}
