import { Elysia, t } from "elysia";
import { literals } from "../../core/schema.ts";
import type { Deps } from "../../deps.ts";
import { authGuard } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok } from "../../http/envelope.ts";
import { BATCH_LIMITS } from "../../pipeline/episode-runs.ts";
import { ReservedSchema } from "../../schemas/compute.ts";
import { EPISODE_LIMITS, SPLITS } from "../../story/episodes.ts";
import * as season from "./service.ts";

const security = [{ bearer: [] }];
const Params = t.Object({ id: t.String({ format: "uuid" }) });
const ShotId = t.String({ pattern: "^c[0-9]+s[0-9]+h[0-9]+$", maxLength: 64 });

const PlanBody = t.Object(
  {
    target_episode_s: t.Optional(
      t.Number({
        description: `about how long each episode runs (${EPISODE_LIMITS.minTargetS}–${EPISODE_LIMITS.maxTargetS} s; default ${EPISODE_LIMITS.defaultTargetS})`,
      }),
    ),
    episode_count: t.Optional(t.Integer({ description: "exactly this many episodes (instead of a target length)" })),
    split: t.Optional(
      t.Union(
        SPLITS.map((s) => t.Literal(s)),
        {
          description:
            "chapters: never across a chapter (a chapter under a third of the target joins a neighbour); beats: at the scene change nearest the target, a hanging line preferred",
        },
      ),
    ),
  },
  { additionalProperties: false },
);

const EditBody = t.Object(
  {
    episodes: t.Array(
      t.Object(
        { title: t.String({ maxLength: 200 }), first_shot: ShotId, last_shot: ShotId },
        { additionalProperties: false },
      ),
      { maxItems: EPISODE_LIMITS.maxEpisodes + 1 },
    ),
  },
  { additionalProperties: false },
);

const EPISODE_STATES = [
  "planned",
  "waiting",
  "queued",
  "running",
  "paused",
  "completed",
  "failed",
  "cancelled",
] as const;
const RunState = literals(EPISODE_STATES);

const EpisodeSchema = t.Object({
  id: t.String({ format: "uuid" }),
  package_id: t.String({ format: "uuid", description: "the season's material package it was planned from" }),
  index: t.Integer({ minimum: 1, description: "its place in the season (第N集)" }),
  title: t.String(),
  first_shot: t.String(),
  last_shot: t.String(),
  chapters: t.Array(t.Integer({ minimum: 1 })),
  shot_count: t.Integer({ minimum: 1 }),
  estimated_s: t.Number({ minimum: 0, description: "the storyboard's estimate of its length" }),
  characters: t.Array(t.String(), { description: "the characters its shots show or voice" }),
  status: literals(EPISODE_STATES, {
    description: "planned: never run; waiting: for a place among its batch's runs in flight; else its latest run's",
  }),
  run_id: t.Nullable(t.String({ format: "uuid" })),
  progress: t.Integer({ minimum: 0, maximum: 100 }),
  current_package_id: t.Nullable(
    t.String({ format: "uuid", description: "its own package (its latest run's): the shared cast and its shots" }),
  ),
  stale: t.Boolean({ description: "its copy of the cast is older than the season's" }),
  stale_reasons: t.Array(t.String(), {
    description: "`character:<name>` for each changed character it shows; `art_style`",
  }),
  update: t.Object({
    shots: t.Integer({ minimum: 0, description: "shots that bringing it up to date paints and animates again" }),
    cost_estimate_usd: t.Number({ minimum: 0, description: "at the current provider chains' list prices" }),
  }),
  created_at: t.String({ format: "date-time" }),
});
const Season = t.Array(EpisodeSchema);

const RunsBody = t.Object(
  {
    episodes: t.Union(
      [t.Literal("all"), t.Array(t.String({ format: "uuid" }), { maxItems: EPISODE_LIMITS.maxEpisodes })],
      {
        description: 'the episodes to render (ids from GET /projects/:id/episodes), or "all"',
      },
    ),
    parallelism: t.Optional(
      t.Integer({
        description: `how many of them render at once (1–${BATCH_LIMITS.maxParallelism}; default ${BATCH_LIMITS.defaultParallelism}), so one series never takes every worker`,
      }),
    ),
    recap: t.Optional(
      t.Boolean({ description: "a “previously” card first (the previous episode's last line); default true" }),
    ),
    next_card: t.Optional(
      t.Boolean({ description: "a “next episode” card last (the next one's first line); default true" }),
    ),
  },
  { additionalProperties: false },
);

const SeriesProgress = t.Object({
  batch_id: t.String({ format: "uuid" }),
  total: t.Integer({ minimum: 0 }),
  completed: t.Integer({ minimum: 0 }),
  failed: t.Integer({ minimum: 0 }),
  in_flight: t.Integer({ minimum: 0 }),
  progress: t.Integer({ minimum: 0, maximum: 100 }),
});

const Batch = t.Object({
  batch_id: t.String({ format: "uuid" }),
  parallelism: t.Integer({ minimum: 1 }),
  runs: t.Array(
    t.Object({
      episode_id: t.String({ format: "uuid" }),
      index: t.Integer({ minimum: 1 }),
      run_id: t.String({ format: "uuid" }),
      held: t.Boolean({ description: "waits for a place among the batch's runs in flight" }),
      compute: t.Nullable(ReservedSchema),
    }),
  ),
  compute: t.Object(
    { points: t.Number(), usd: t.Number() },
    { description: "What the batch reserved in all: each run holds its own share until it ends" },
  ),
  series: SeriesProgress,
});

const BatchState = t.Composite([
  SeriesProgress,
  t.Object({
    parallelism: t.Integer({ minimum: 1 }),
    runs: t.Array(
      t.Object({
        run_id: t.String({ format: "uuid" }),
        episode_id: t.String({ format: "uuid" }),
        index: t.Integer({ minimum: 1 }),
        status: RunState,
        progress: t.Integer({ minimum: 0, maximum: 100 }),
        error: t.Nullable(t.Object({ message: t.String(), stage: t.Optional(t.String()) })),
      }),
    ),
  }),
]);

const SeriesFile = t.Object({
  file_type: t.String(),
  file_name: t.String(),
  mime_type: t.String(),
  file_size: t.Integer({ minimum: 0 }),
  duration_s: t.Nullable(t.Number()),
  download_url: t.String(),
  expires_at: t.String({ format: "date-time" }),
});

const SeriesExport = t.Object({
  episode_id: t.String({ format: "uuid" }),
  index: t.Integer({ minimum: 1 }),
  title: t.String(),
  export_id: t.String({ format: "uuid" }),
  duration_s: t.Nullable(t.Number()),
  files: t.Array(SeriesFile),
  completed_at: t.Nullable(t.String({ format: "date-time" })),
});

const Manifest = t.Object({
  project_id: t.String({ format: "uuid" }),
  title: t.String(),
  planned: t.Integer({ minimum: 0 }),
  finished: t.Integer({ minimum: 0 }),
  duration_s: t.Number({ minimum: 0 }),
  episodes: t.Array(SeriesExport),
  m3u: t.String({ description: "the same episodes as an M3U playlist (GET …/manifest.m3u serves it as a file)" }),
});
const BatchParams = t.Object({ id: t.String({ format: "uuid" }), batchId: t.String({ format: "uuid" }) });

/** A season of episodes from one storyboard: planned, edited and listed (nothing is generated here). */
export function episodesModule(deps: Deps) {
  const ids = (params: { id: string }, caller: { user: { id: string } }) => ({
    userId: caller.user.id,
    projectId: params.id,
  });
  return new Elysia({ prefix: "/api/v1/projects/:id/episodes", tags: ["episodes"] })
    .use(authGuard(deps))
    .get("", async ({ params, caller }) => ok(await season.listEpisodes(deps, ids(params, caller))), {
      auth: true,
      spaceRole: "viewer",
      params: Params,
      response: { 200: Envelope(Season), ...ErrorResponses },
      detail: { summary: "The season's episodes, in order (empty before a plan is made)", security },
    })
    .post(
      "/plan",
      async ({ params, body, caller }) =>
        ok(await season.planSeason(deps, ids(params, caller), body), "season planned"),
      {
        auth: true,
        spaceRole: "editor",
        params: Params,
        body: PlanBody,
        response: { 200: Envelope(Season), ...ErrorResponses },
        detail: {
          summary: "Plan the season: cut the storyboard into episodes (replaces the plan; nothing is generated)",
          description:
            "Each episode is a run of consecutive shots with its chapters, shot count and estimated length. The project needs a storyboard (409 before one): run the pipeline to the storyboard stage first.",
          security,
        },
      },
    )
    .put(
      "",
      async ({ params, body, caller }) =>
        ok(await season.editSeason(deps, ids(params, caller), body.episodes), "season saved"),
      {
        auth: true,
        spaceRole: "editor",
        params: Params,
        body: EditBody,
        response: { 200: Envelope(Season), ...ErrorResponses },
        detail: {
          summary: "Save an edited plan (episodes merged, split at a shot, renamed)",
          description:
            "The episodes must cover every shot of the storyboard once, in order: a gap, an overlap or an unknown shot is 400 naming the episode.",
          security,
        },
      },
    )
    .post(
      "/runs",
      async ({ params, body, caller, set }) => {
        set.status = 202;
        return ok(await season.renderEpisodes(deps, ids(params, caller), body), "episodes queued");
      },
      {
        auth: true,
        spaceRole: "editor",
        params: Params,
        body: RunsBody,
        response: { 202: Envelope(Batch), ...ErrorResponses },
        detail: {
          summary: "Render episodes: one run each, a few at a time",
          description:
            "Each episode gets a new package of its own (the season's cast, art style, scenes and music, and its shots) and a run from the keyframes to the export. At most `parallelism` run at once; the others wait and start as places free up, in order. A failed episode does not stop the others (retry it with POST /runs/:id/retry). Every event of an episode's run carries `episode_id` and the batch's `series` progress. 409 while one of them is rendering.",
          security,
        },
      },
    )
    .get(
      "/runs/:batchId",
      async ({ params, caller }) =>
        ok(await season.batchProgress(deps, { ...ids(params, caller), batchId: params.batchId })),
      {
        auth: true,
        spaceRole: "viewer",
        params: BatchParams,
        response: { 200: Envelope(BatchState), ...ErrorResponses },
        detail: { summary: "A batch's progress, episode by episode", security },
      },
    )
    .post(
      "/runs/:batchId/cancel",
      async ({ params, caller }) =>
        ok(await season.stopBatch(deps, { ...ids(params, caller), batchId: params.batchId }), "batch cancelled"),
      {
        auth: true,
        spaceRole: "editor",
        params: BatchParams,
        response: { 200: Envelope(BatchState), ...ErrorResponses },
        detail: {
          summary: "Stop a batch: its waiting episodes never start, its running ones are cancelled",
          description: "Finished episodes keep their renders. A cancelled episode can be run again in a new batch.",
          security,
        },
      },
    )
    .get("/exports", async ({ params, caller }) => ok(await season.seriesExports(deps, ids(params, caller))), {
      auth: true,
      spaceRole: "viewer",
      params: Params,
      response: { 200: Envelope(t.Array(SeriesExport)), ...ErrorResponses },
      detail: {
        summary: "The finished episodes' files, in episode order",
        description: "Each episode's latest finished export, with links signed for an hour.",
        security,
      },
    })
    .get("/manifest", async ({ params, caller }) => ok(await season.seriesManifest(deps, ids(params, caller))), {
      auth: true,
      spaceRole: "viewer",
      params: Params,
      response: { 200: Envelope(Manifest), ...ErrorResponses },
      detail: { summary: "The series manifest: the finished episodes in order, with an M3U playlist", security },
    })
    .get(
      "/manifest.m3u",
      async ({ params, caller, set }) => {
        const manifest = await season.seriesManifest(deps, ids(params, caller));
        set.headers["content-type"] = "audio/x-mpegurl; charset=utf-8";
        set.headers["content-disposition"] = 'attachment; filename="series.m3u"';
        return manifest.m3u;
      },
      {
        auth: true,
        spaceRole: "viewer",
        params: Params,
        response: { 200: t.String({ description: "an M3U playlist of the finished episodes" }), ...ErrorResponses },
        detail: { summary: "The series as an M3U playlist (links signed for an hour)", security },
      },
    );
}
