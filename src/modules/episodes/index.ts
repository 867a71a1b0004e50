import { Elysia, t } from "elysia";
import type { Deps } from "../../deps.ts";
import { authGuard } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok } from "../../http/envelope.ts";
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

const EpisodeSchema = t.Object({
  id: t.String({ format: "uuid" }),
  package_id: t.String({ format: "uuid", description: "the material package it was planned from" }),
  index: t.Integer({ minimum: 1, description: "its place in the season (第N集)" }),
  title: t.String(),
  first_shot: t.String(),
  last_shot: t.String(),
  chapters: t.Array(t.Integer({ minimum: 1 })),
  shot_count: t.Integer({ minimum: 1 }),
  estimated_s: t.Number({ minimum: 0, description: "the storyboard's estimate of its length" }),
  created_at: t.String({ format: "date-time" }),
});
const Season = t.Array(EpisodeSchema);

/** A season of episodes from one storyboard: planned, edited and listed (nothing is generated here). */
export function episodesModule(deps: Deps) {
  const { db } = deps;
  return new Elysia({ prefix: "/api/v1/projects/:id/episodes", tags: ["episodes"] })
    .use(authGuard(deps))
    .get(
      "",
      async ({ params, caller }) => ok(await season.listEpisodes(db, { userId: caller.user.id, projectId: params.id })),
      {
        auth: true,
        spaceRole: "viewer",
        params: Params,
        response: { 200: Envelope(Season), ...ErrorResponses },
        detail: { summary: "The season's episodes, in order (empty before a plan is made)", security },
      },
    )
    .post(
      "/plan",
      async ({ params, body, caller }) =>
        ok(await season.planSeason(db, { userId: caller.user.id, projectId: params.id }, body), "season planned"),
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
        ok(
          await season.editSeason(db, { userId: caller.user.id, projectId: params.id }, body.episodes),
          "season saved",
        ),
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
    );
}
