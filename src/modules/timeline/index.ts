import { Elysia, t } from "elysia";
import type { Deps } from "../../deps.ts";
import { authGuard, type Caller } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok } from "../../http/envelope.ts";
import { ImageSteerFields, SteerFields } from "../../schemas/regenerate.ts";
import { FILTERS } from "../../story/edit.ts";
import * as timeline from "./service.ts";

const security = [{ bearer: [] }];
const uuid = t.String({ format: "uuid" });
const ClipParams = t.Object({ id: uuid, clipId: t.String({ pattern: "^[\\w.-]{1,64}$" }) });
const LineBody = t.Object({
  text_content: t.String({ minLength: 1, maxLength: 2000 }),
  voice_id: t.Optional(t.String({ minLength: 1, maxLength: 100 })),
  speech_speed: t.Optional(t.Number({ minimum: 0.5, maximum: 2 })),
  volume: t.Optional(t.Number({ minimum: 0, maximum: 2 })),
});
const fraction = t.Number({ minimum: 0, maximum: 1 });
const EditConfigBody = t.Object(
  {
    crop_x: t.Optional(fraction),
    crop_y: t.Optional(fraction),
    crop_width: t.Optional(t.Number({ minimum: 0.05, maximum: 1 })),
    crop_height: t.Optional(t.Number({ minimum: 0.05, maximum: 1 })),
    zoom_level: t.Optional(t.Number({ minimum: 1, maximum: 4 })),
    pan_x: t.Optional(t.Number({ minimum: -1, maximum: 1 })),
    pan_y: t.Optional(t.Number({ minimum: -1, maximum: 1 })),
    rotation: t.Optional(t.Number({ minimum: -180, maximum: 180 })),
    filter_type: t.Optional(t.Union(FILTERS.map((f) => t.Literal(f)))),
    filter_intensity: t.Optional(fraction),
  },
  { additionalProperties: false },
);
const ImageSteer = t.Optional(t.Object(ImageSteerFields, { additionalProperties: false }));
const Steer = t.Optional(t.Object(SteerFields, { additionalProperties: false }));
const Queued = t.Object({
  task_ids: t.Array(uuid, { description: "The generation tasks (GET /api/v1/tasks/:id), one per clip" }),
  job_ids: t.Array(uuid, { description: "Their jobs on the queue" }),
  generation_status: t.Literal("pending"),
});
const BatchQueued = t.Composite([
  Queued,
  t.Object({
    task_id: t.String({ format: "uuid", description: "The batch task: its progress is the clips' together" }),
    total_clips: t.Integer({ minimum: 1 }),
  }),
]);
const Clip = t.Unknown({
  description:
    "A timeline clip: id, shot_number, clip_type, duration, start_time, end_time, description, transition, selected image/video, lines, config, stale",
});

/** The ids a timeline service takes, from the route's params and its caller. */
const project = (params: { id: string }, caller: Caller) => ({ userId: caller.user.id, projectId: params.id });
const clip = (params: { id: string; clipId: string }, caller: Caller) => ({
  ...project(params, caller),
  clipId: params.clipId,
});

/** The timeline of a project's active material package: clips, lines, edits and music. */
export function timelineModule(deps: Deps) {
  const { db } = deps;
  const base = "/api/v1/projects/:id/timeline";
  return new Elysia({ tags: ["timeline"] })
    .use(authGuard(deps))
    .get(base, async ({ params, caller }) => ok(await timeline.getTimeline(db, project(params, caller))), {
      spaceRole: "viewer",
      params: t.Object({ id: uuid }),
      response: { 200: Envelope(t.Unknown()), ...ErrorResponses },
      detail: { summary: "The timeline: clips in order with their lines, edit config and staleness", security },
    })
    .put(
      `${base}/clips/:clipId/duration`,
      async ({ params, body, caller }) => ok(await timeline.setDuration(db, clip(params, caller), body.duration)),
      {
        spaceRole: "editor",
        params: ClipParams,
        body: t.Object({ duration: t.Number({ minimum: 0.5, maximum: 60 }) }),
        response: { 200: Envelope(Clip), ...ErrorResponses },
        detail: { summary: "Change a clip's duration (a clip video made for the old length becomes stale)", security },
      },
    )
    .post(
      `${base}/reorder`,
      async ({ params, body, caller }) => ok(await timeline.reorder(db, project(params, caller), body.clip_ids)),
      {
        spaceRole: "editor",
        params: t.Object({ id: uuid }),
        body: t.Object({ clip_ids: t.Array(t.String({ maxLength: 64 }), { minItems: 1, maxItems: 5000 }) }),
        response: { 200: Envelope(t.Unknown()), ...ErrorResponses },
        detail: { summary: "Reorder the clips", security },
      },
    )
    .delete(
      `${base}/clips/:clipId`,
      async ({ params, caller }) => {
        await timeline.deleteClip(db, clip(params, caller));
        return ok(null);
      },
      {
        spaceRole: "editor",
        params: ClipParams,
        response: { 200: Envelope(t.Null()), ...ErrorResponses },
        detail: { summary: "Delete a clip from the timeline", security },
      },
    )
    .put(
      `${base}/clips/:clipId/narration`,
      async ({ params, body, caller }) => {
        const edited = await timeline.editLine(
          db,
          clip(params, caller),
          (s) => s.lines.findIndex((l) => l.kind === "narration"),
          body,
        );
        return ok({
          clip: edited,
          estimated_duration: timeline.estimate(body.text_content, body.speech_speed ?? 1),
          generation_status: "pending",
        });
      },
      {
        spaceRole: "editor",
        params: ClipParams,
        body: LineBody,
        response: { 200: Envelope(t.Unknown()), ...ErrorResponses },
        detail: { summary: "Rewrite a clip's narration; its voice is regenerated by the next export", security },
      },
    )
    .put(
      `${base}/clips/:clipId/dialogue/:lineId`,
      async ({ params, body, caller }) => {
        const edited = await timeline.editLine(
          db,
          clip(params, caller),
          (s) => s.lines.findIndex((l) => l.id === params.lineId && l.kind === "dialogue"),
          body,
        );
        return ok({
          clip: edited,
          estimated_duration: timeline.estimate(body.text_content, body.speech_speed ?? 1),
          generation_status: "pending",
        });
      },
      {
        spaceRole: "editor",
        params: t.Object({
          id: uuid,
          clipId: t.String({ pattern: "^[\\w.-]{1,64}$" }),
          lineId: t.String({ pattern: "^[\\w.-]{1,80}$" }),
        }),
        body: LineBody,
        response: { 200: Envelope(t.Unknown()), ...ErrorResponses },
        detail: { summary: "Rewrite a dialogue line (text, voice, speed, volume)", security },
      },
    )
    .put(
      `${base}/clips/:clipId/edit-config`,
      async ({ params, body, caller }) => ok(await timeline.setEditConfig(db, clip(params, caller), body)),
      {
        spaceRole: "editor",
        params: ClipParams,
        body: EditConfigBody,
        response: { 200: Envelope(Clip), ...ErrorResponses },
        detail: { summary: "Crop, zoom, pan, rotation and colour filter of a clip", security },
      },
    )
    .post(
      `${base}/clips/:clipId/regenerate-image`,
      async ({ params, body, caller, set }) => {
        set.status = 202;
        return ok(await timeline.regenerate(deps, clip(params, caller), "keyframe", body ?? {}));
      },
      {
        spaceRole: "editor",
        params: ClipParams,
        body: ImageSteer,
        response: { 202: Envelope(Queued), ...ErrorResponses },
        detail: {
          summary: "Paint a new keyframe candidate for a clip (steered by prompt, user_prompt, model_id, references)",
          security,
        },
      },
    )
    .post(
      `${base}/clips/:clipId/generate-video`,
      async ({ params, body, caller, set }) => {
        set.status = 202;
        return ok(await timeline.regenerate(deps, clip(params, caller), "clip", body ?? {}));
      },
      {
        spaceRole: "editor",
        params: ClipParams,
        body: Steer,
        response: { 202: Envelope(Queued), ...ErrorResponses },
        detail: {
          summary: "Make a new video candidate for a clip from its keyframe (steered by prompt, user_prompt, model_id)",
          security,
        },
      },
    )
    .post(
      `${base}/clips/:clipId/regenerate-voice`,
      async ({ params, body, caller, set }) => {
        set.status = 202;
        return ok(await timeline.regenerate(deps, clip(params, caller), "voice", { model_id: body?.model_id }));
      },
      {
        spaceRole: "editor",
        params: ClipParams,
        body: t.Optional(t.Object({ model_id: SteerFields.model_id }, { additionalProperties: false })),
        response: { 202: Envelope(Queued), ...ErrorResponses },
        detail: {
          summary: "Speak a clip's narration and dialogue again now (instead of at the next export)",
          security,
        },
      },
    )
    .post(
      `${base}/generate-videos`,
      async ({ params, body, caller, set }) => {
        set.status = 202;
        const { clip_ids, ...steer } = body;
        return ok(await timeline.generateVideos(deps, project(params, caller), { clipIds: clip_ids, ...steer }));
      },
      {
        spaceRole: "editor",
        params: t.Object({ id: uuid }),
        body: t.Object({
          ...SteerFields,
          clip_ids: t.Optional(
            t.Array(t.String({ pattern: "^[\\w.-]{1,64}$" }), {
              minItems: 1,
              maxItems: 500,
              description: "Left out: every clip that has a keyframe and no video yet",
            }),
          ),
        }),
        response: { 202: Envelope(BatchQueued), ...ErrorResponses },
        detail: {
          summary: "Make video candidates for several clips: one batch task (task_id) with a task per clip",
          security,
        },
      },
    )
    .get(
      `${base}/clips/:clipId/candidates`,
      async ({ params, caller }) => ok(await timeline.candidates(db, deps.storage, clip(params, caller))),
      {
        spaceRole: "viewer",
        params: ClipParams,
        response: { 200: Envelope(t.Unknown()), ...ErrorResponses },
        detail: { summary: "A clip's image and video candidates with signed links", security },
      },
    )
    .post(
      `${base}/clips/:clipId/select-candidate`,
      async ({ params, body, caller }) =>
        ok(await timeline.selectCandidate(db, { ...clip(params, caller), assetId: body.asset_id }, body.type)),
      {
        spaceRole: "editor",
        params: ClipParams,
        body: t.Object({ type: t.Union([t.Literal("image"), t.Literal("video")]), asset_id: uuid }),
        response: { 200: Envelope(Clip), ...ErrorResponses },
        detail: { summary: "Use another candidate image or video for a clip", security },
      },
    )
    .get(`${base}/bgm`, async ({ params, caller }) => ok(await timeline.getBgm(db, project(params, caller))), {
      spaceRole: "viewer",
      params: t.Object({ id: uuid }),
      response: { 200: Envelope(t.Unknown()), ...ErrorResponses },
      detail: { summary: "Background music settings", security },
    })
    .put(
      `${base}/bgm`,
      async ({ params, body, caller }) => ok(await timeline.setBgm(db, project(params, caller), body)),
      {
        spaceRole: "editor",
        params: t.Object({ id: uuid }),
        body: t.Object(
          {
            volume: t.Optional(t.Number({ minimum: 0, maximum: 1 })),
            loop: t.Optional(t.Boolean()),
            fade_in_s: t.Optional(t.Number({ minimum: 0, maximum: 30 })),
            fade_out_s: t.Optional(t.Number({ minimum: 0, maximum: 30 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Envelope(t.Unknown()), ...ErrorResponses },
        detail: { summary: "Change the background music's volume, looping and fades", security },
      },
    );
}
