import { Elysia, t } from "elysia";
import { WORK_STATUSES, WORK_TYPES } from "../../core/generation.ts";
import { createLru } from "../../core/lru.ts";
import { MAX_PAGE } from "../../core/page.ts";
import { literals, NO_CONTROLS } from "../../core/schema.ts";
import type { Deps } from "../../deps.ts";
import { authenticate, authGuard, bearerToken, clientIp } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok, PageOf } from "../../http/envelope.ts";
import * as works from "./service.ts";

const security = [{ bearer: [] }];
const uuid = t.String({ format: "uuid" });
const iso = t.String({ format: "date-time" });
const IdParams = t.Object({ id: uuid });
const Paging = {
  page: t.Optional(t.Integer({ minimum: 1, maximum: MAX_PAGE })),
  page_size: t.Optional(t.Integer({ minimum: 1, maximum: 100, description: "At most 100 (default 20)" })),
};

const Work = t.Object({
  id: uuid,
  type: literals(WORK_TYPES),
  title: t.String(),
  status: literals(WORK_STATUSES),
  thumbnail_url: t.Nullable(t.String({ description: "Signed, expiring link to a JPEG thumbnail" })),
  file_url: t.Nullable(t.String({ description: "Signed, expiring link to the file (null until completed)" })),
  expires_at: iso,
  mime_type: t.Nullable(t.String()),
  file_size: t.Nullable(t.Integer()),
  width: t.Nullable(t.Integer()),
  height: t.Nullable(t.Integer()),
  duration_s: t.Nullable(t.Number()),
  generation_id: t.Nullable(uuid),
  export_id: t.Nullable(uuid),
  description: t.String(),
  tags: t.Array(t.String()),
  published: t.Boolean(),
  published_at: t.Nullable(iso),
  likes_count: t.Integer(),
  favorites_count: t.Integer(),
  plays_count: t.Integer(),
  created_at: iso,
});

const FeedItem = t.Object({
  id: uuid,
  type: literals(WORK_TYPES),
  title: t.String(),
  description: t.String(),
  tags: t.Array(t.String()),
  thumbnail_url: t.Nullable(t.String()),
  file_url: t.Nullable(t.String()),
  duration_s: t.Nullable(t.Number()),
  width: t.Nullable(t.Integer()),
  height: t.Nullable(t.Integer()),
  likes_count: t.Integer(),
  favorites_count: t.Integer(),
  play_count: t.Integer(),
  author: t.Object({ id: uuid, username: t.String(), avatar_url: t.Nullable(t.String()) }),
  published_at: iso,
  created_at: iso,
});

const PublishBody = t.Object(
  {
    description: t.Optional(t.String({ maxLength: 2000, pattern: NO_CONTROLS })),
    tags: t.Optional(
      t.Array(t.String({ minLength: 1, maxLength: 30, pattern: NO_CONTROLS }), {
        maxItems: 10,
        description: "Up to 10",
      }),
    ),
  },
  { additionalProperties: false },
);

const Reaction = t.Object({
  active: t.Boolean({ description: "Whether you like (favourite) it now" }),
  count: t.Integer(),
});
const Play = t.Object({
  counted: t.Boolean({ description: "False inside the 30-minute window of your last counted play" }),
  play_count: t.Integer(),
});

/** Works (seed 004): what each user made; and the public square of published works. */
export function worksModule(deps: Deps) {
  const { db, storage, config } = deps;
  const ipSalt = config.jwt.secret ?? config.providerSecret ?? "inkreel-square-plays";
  // This process's recent feed pages (see works.squareFeed: never served past a change of the square).
  const feeds = { pages: createLru<string, works.CachedFeed>(256), freshMs: config.squareFeedCacheMs };

  const reactRoute =
    (kind: "like" | "favorite", on: boolean) =>
    async ({ params, caller }: { params: { id: string }; caller: { user: { id: string } } }) =>
      ok(await works.react(db, { userId: caller.user.id, workId: params.id }, { kind, on }));
  const reactOpts = (summary: string) => ({
    auth: true as const,
    params: IdParams,
    response: { 200: Envelope(Reaction), ...ErrorResponses },
    detail: { summary, security },
  });

  return new Elysia({ prefix: "/api/v1", tags: ["works"] })
    .use(authGuard(deps))
    .get("/works", async ({ query, caller }) => ok(await works.listWorks(db, storage, caller.user.id, query)), {
      auth: true,
      query: t.Object({
        ...Paging,
        type: t.Optional(literals(WORK_TYPES)),
        status: t.Optional(literals(WORK_STATUSES)),
      }),
      response: { 200: Envelope(PageOf(Work)), ...ErrorResponses },
      detail: { summary: "Your works (generations and exports), newest first", security },
    })
    .get(
      "/works/:id",
      async ({ params, caller }) => ok(await works.getWork(db, storage, { userId: caller.user.id, workId: params.id })),
      {
        auth: true,
        params: IdParams,
        response: { 200: Envelope(Work), ...ErrorResponses },
        detail: { summary: "One of your works", security },
      },
    )
    .delete(
      "/works/:id",
      async ({ params, caller }) => {
        await works.deleteWork(db, { userId: caller.user.id, workId: params.id });
        return ok(null, "work deleted");
      },
      {
        auth: true,
        params: IdParams,
        response: { 200: Envelope(t.Null()), ...ErrorResponses },
        detail: {
          summary:
            "Delete a work: it leaves the square at once; its files go unless an export or another work shares them",
          security,
        },
      },
    )
    .get(
      "/works/:id/download",
      async ({ params, caller }) =>
        ok(await works.downloadWork(db, storage, { userId: caller.user.id, workId: params.id })),
      {
        auth: true,
        params: IdParams,
        response: {
          200: Envelope(t.Object({ url: t.String(), file_name: t.String(), expires_at: iso })),
          ...ErrorResponses,
        },
        detail: {
          summary: "A signed link that downloads the work's file (Content-Disposition with a safe UTF-8 name)",
          security,
        },
      },
    )
    .post(
      "/works/:id/publish",
      async ({ params, body, caller }) =>
        ok(await works.publishWork(db, storage, { userId: caller.user.id, workId: params.id }, body ?? {})),
      {
        auth: true,
        params: IdParams,
        body: t.Optional(PublishBody),
        response: { 200: Envelope(Work), ...ErrorResponses },
        detail: { summary: "Publish a completed work to the square (with a description and tags)", security },
      },
    )
    .post(
      "/works/:id/unpublish",
      async ({ params, caller }) =>
        ok(await works.unpublishWork(db, storage, { userId: caller.user.id, workId: params.id })),
      {
        auth: true,
        params: IdParams,
        response: { 200: Envelope(Work), ...ErrorResponses },
        detail: { summary: "Take a work off the square", security },
      },
    )
    .get("/square/feeds", async ({ query }) => ok(await works.squareFeed(db, storage, query, feeds)), {
      query: t.Object({
        ...Paging,
        type: t.Optional(literals(WORK_TYPES)),
        sort: t.Optional(
          literals(["hot", "latest"] as const, { description: "hot (default): engagement decayed by age" }),
        ),
      }),
      response: { 200: Envelope(PageOf(FeedItem)), ...ErrorResponses },
      detail: {
        summary: "The public square: published works, hot or latest (no token needed)",
        description:
          "A deleted or unpublished work leaves the feed at once; likes, favourites and plays show within SQUARE_FEED_CACHE_MS (1 s: a process may serve a page it read that recently).",
      },
    })
    .post("/square/:id/like", reactRoute("like", true), reactOpts("Like a published work (liking twice counts once)"))
    .delete("/square/:id/like", reactRoute("like", false), reactOpts("Take a like back"))
    .post("/square/:id/favorite", reactRoute("favorite", true), reactOpts("Favourite a published work (idempotent)"))
    .delete("/square/:id/favorite", reactRoute("favorite", false), reactOpts("Take a favourite back"))
    .post(
      "/square/:id/play",
      async ({ params, request, server }) => {
        // A token is optional: a signed-in viewer counts as themselves, anyone else by a hash of their address.
        const token = bearerToken(request.headers.get("authorization"));
        const userId = token ? (await authenticate(deps, token)).user.id : null;
        const viewer = works.viewerOf(userId, clientIp(deps, request, server), ipSalt);
        return ok(await works.countPlay(db, { workId: params.id, viewer }));
      },
      {
        params: IdParams,
        response: { 200: Envelope(Play), ...ErrorResponses },
        detail: { summary: "Count a play: at most once per viewer (user, or IP address hash) per 30 minutes" },
      },
    )
    .get("/users/:id/works", async ({ params, query }) => ok(await works.userWorks(db, storage, params.id, query)), {
      params: IdParams,
      query: t.Object(Paging),
      response: { 200: Envelope(PageOf(FeedItem)), ...ErrorResponses },
      detail: { summary: "A user's public profile of published works (no token needed)" },
    })
    .get(
      "/me/favorites",
      async ({ query, caller }) => ok(await works.myFavorites(db, storage, caller.user.id, query)),
      {
        auth: true,
        query: t.Object(Paging),
        response: { 200: Envelope(PageOf(FeedItem)), ...ErrorResponses },
        detail: { summary: "The published works you favourited, latest first", security },
      },
    );
}
