import type { TSchema } from "@sinclair/typebox";
import { Elysia, t } from "elysia";
import { FPS_VALUES } from "../../core/project-options.ts";
import { literals } from "../../core/schema.ts";
import type { Deps } from "../../deps.ts";
import { authGuard, type Caller } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok } from "../../http/envelope.ts";
import { MOODS } from "../../providers/types.ts";
import { MusicSettingsFields, StaleList } from "../../schemas/music.ts";
import { ImageSteerFields, QueuedTasks, SteerFields } from "../../schemas/regenerate.ts";
import { FILTERS } from "../../story/edit.ts";
import { CAMERAS, TRANSITIONS } from "../../story/schemas.ts";
import * as audio from "./audio.ts";
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
const BatchQueued = t.Composite([
  QueuedTasks,
  t.Object({
    task_id: t.String({ format: "uuid", description: "The batch task: its progress is the clips' together" }),
    total_clips: t.Integer({ minimum: 1 }),
  }),
]);
const nullable = <T extends TSchema>(schema: T) => t.Union([schema, t.Null()]);
const EditConfigView = t.Object(
  {
    crop_x: nullable(t.Number()),
    crop_y: nullable(t.Number()),
    crop_width: nullable(t.Number()),
    crop_height: nullable(t.Number()),
    zoom_level: t.Number(),
    pan_x: t.Number(),
    pan_y: t.Number(),
    rotation: t.Number(),
    filter_type: literals(FILTERS),
    filter_intensity: t.Number(),
  },
  { description: "The clip's edit config, in the shape PUT edit-config takes" },
);
const Clip = t.Object({
  id: t.String(),
  shot_number: t.Integer(),
  clip_type: t.Union([t.Literal("video"), t.Literal("image")]),
  duration: t.Number(),
  start_time: t.Number(),
  end_time: t.Number(),
  description: t.String(),
  camera: literals(CAMERAS),
  transition: literals(TRANSITIONS),
  transition_duration: t.Number({ description: "Seconds the transition into this clip lasts" }),
  selected_image_id: nullable(uuid),
  selected_video_id: nullable(uuid),
  image_candidates: t.Integer(),
  video_candidates: t.Integer(),
  lines: t.Array(
    t.Object({
      id: t.String(),
      kind: t.Union([t.Literal("narration"), t.Literal("dialogue")]),
      speaker: nullable(t.String()),
      text: t.String(),
      voice_id: t.String(),
      speech_speed: t.Number(),
      volume: t.Number(),
      offset_s: t.Number(),
      duration_s: nullable(t.Number()),
      audio_id: nullable(uuid),
      is_custom_audio: t.Boolean(),
    }),
  ),
  config: EditConfigView,
  stale: StaleList,
});
const Link = t.Object({ asset_id: uuid, mime_type: t.String(), url: t.String(), expires_at: t.String() });
const Bgm = nullable(
  t.Object({
    ...MusicSettingsFields,
    track: nullable(Link),
    candidates: t.Array(Link),
  }),
);
const Timeline = t.Object({
  project_id: uuid,
  package_id: uuid,
  total_duration: t.Number(),
  video_aspect_ratio: t.String(),
  fps: literals(FPS_VALUES),
  clips: t.Array(Clip),
  bgm: nullable(
    t.Object({
      ...MusicSettingsFields,
      asset_id: nullable(uuid),
      candidates: t.Integer({ description: "How many other tracks there are to choose from (GET bgm lists them)" }),
    }),
  ),
});
const LineEdited = t.Object({
  clip: Clip,
  estimated_duration: t.Number({ description: "Seconds the new line is expected to take when spoken" }),
  generation_status: t.Literal("pending"),
});
const LineAudio = t.Object({
  id: t.String(),
  kind: t.Union([t.Literal("narration"), t.Literal("dialogue")]),
  character_name: nullable(t.String()),
  text_content: t.String(),
  voice_id: t.String(),
  voice_name: nullable(t.String()),
  speech_speed: t.Number(),
  volume: t.Number(),
  emotion: t.Null({ description: "Not set by the storyboard yet" }),
  offset_s: t.Number(),
  duration_s: nullable(t.Number()),
  audio_url: nullable(t.String({ description: "Signed link; null while the line waits to be spoken again" })),
  expires_at: nullable(t.String()),
  generation_status: t.Union([t.Literal("pending"), t.Literal("processing"), t.Literal("completed")]),
  is_custom_audio: t.Boolean(),
});
const ClipAudio = t.Object({ clip_id: t.String(), narration: nullable(LineAudio), dialogue: t.Array(LineAudio) });
const Candidates = t.Object({
  images: t.Array(t.Composite([Link, t.Object({ selected: t.Boolean() })])),
  videos: t.Array(t.Composite([Link, t.Object({ selected: t.Boolean() })])),
});
const Recording = t.File({ description: "WAV, MP3, M4A, OGG or FLAC, up to 10 MB (sniffed from the bytes)" });

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
    .get(
      base,
      async ({ params, query, caller }) =>
        ok(
          await timeline.getTimeline(db, {
            ...project(params, caller),
            ...(query.episode_id ? { episodeId: query.episode_id } : {}),
          }),
        ),
      {
        spaceRole: "viewer",
        params: t.Object({ id: uuid }),
        query: t.Object({
          episode_id: t.Optional(
            t.String({ format: "uuid", description: "An episode's own timeline (its latest run's package)" }),
          ),
        }),
        response: { 200: Envelope(Timeline), ...ErrorResponses },
        detail: { summary: "The timeline: clips in order with their lines, edit config and staleness", security },
      },
    )
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
        response: { 200: Envelope(Timeline), ...ErrorResponses },
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
        response: { 200: Envelope(LineEdited), ...ErrorResponses },
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
        response: { 200: Envelope(LineEdited), ...ErrorResponses },
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
        response: { 202: Envelope(QueuedTasks), ...ErrorResponses },
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
        response: { 202: Envelope(QueuedTasks), ...ErrorResponses },
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
        return ok(await timeline.regenerate(deps, clip(params, caller), "voice", body ?? {}));
      },
      {
        spaceRole: "editor",
        params: ClipParams,
        body: t.Optional(
          t.Object({
            model_id: SteerFields.model_id,
            prompt: t.Optional(t.String({ maxLength: 4000, description: "Refused (422): speech takes no prompt" })),
            user_prompt: t.Optional(t.String({ maxLength: 4000, description: "Refused (422), as prompt" })),
          }),
        ),
        response: { 202: Envelope(QueuedTasks), ...ErrorResponses },
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
        response: { 200: Envelope(Candidates), ...ErrorResponses },
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
    .get(
      `${base}/bgm`,
      async ({ params, caller }) => ok(await audio.getBgm(db, deps.storage, project(params, caller))),
      {
        spaceRole: "viewer",
        params: t.Object({ id: uuid }),
        response: { 200: Envelope(Bgm), ...ErrorResponses },
        detail: {
          summary: "Background music: settings, the track in use and the candidates, with signed links",
          security,
        },
      },
    )
    .put(
      `${base}/bgm`,
      async ({ params, body, caller }) => ok(await audio.setBgm(deps, project(params, caller), body)),
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
        response: { 200: Envelope(Bgm), ...ErrorResponses },
        detail: { summary: "Change the background music's volume, looping and fades", security },
      },
    )
    .post(
      `${base}/bgm/upload`,
      async ({ params, body, caller }) => ok(await audio.uploadBgm(deps, project(params, caller), body.file)),
      {
        spaceRole: "editor",
        params: t.Object({ id: uuid }),
        body: t.Object({ file: Recording }),
        response: { 200: Envelope(Bgm), ...ErrorResponses },
        detail: {
          summary: "Use your own recording as background music (the track it replaces stays a candidate)",
          security,
        },
      },
    )
    .post(
      `${base}/bgm/select`,
      async ({ params, body, caller }) =>
        ok(await audio.selectBgm(deps, { ...project(params, caller), assetId: body.asset_id })),
      {
        spaceRole: "editor",
        params: t.Object({ id: uuid }),
        body: t.Object({ asset_id: uuid }),
        response: { 200: Envelope(Bgm), ...ErrorResponses },
        detail: { summary: "Use one of the music candidates", security },
      },
    )
    .post(
      `${base}/bgm/candidates`,
      async ({ params, body, caller, set }) => {
        set.status = 202;
        return ok(await audio.bgmCandidates(deps, project(params, caller), body ?? {}));
      },
      {
        spaceRole: "editor",
        params: t.Object({ id: uuid }),
        body: t.Optional(
          t.Object({
            prompt: SteerFields.prompt,
            user_prompt: SteerFields.user_prompt,
            model_id: SteerFields.model_id,
            seed: SteerFields.seed,
            mood: t.Optional(literals(MOODS, { description: "Else the story's prevailing mood" })),
            count: t.Optional(t.Integer({ minimum: 1, maximum: 4, default: 2 })),
          }),
        ),
        response: { 202: Envelope(QueuedTasks), ...ErrorResponses },
        detail: {
          summary: "Compose background-music candidates to choose from (a bgm task; pick one with bgm/select)",
          security,
        },
      },
    )
    .put(
      `${base}/clips/:clipId/transition`,
      async ({ params, body, caller }) => ok(await timeline.setTransition(db, clip(params, caller), body)),
      {
        spaceRole: "editor",
        params: ClipParams,
        body: t.Object({
          transition: literals(TRANSITIONS),
          duration: t.Optional(t.Number({ minimum: 0.1, maximum: 3, description: "Seconds (default 0.5)" })),
        }),
        response: { 200: Envelope(Clip), ...ErrorResponses },
        detail: { summary: "The transition into a clip and how long it lasts", security },
      },
    )
    .get(
      `${base}/clips/:clipId/audio`,
      async ({ params, caller }) => ok(await audio.clipAudio(db, deps.storage, clip(params, caller))),
      {
        spaceRole: "viewer",
        params: ClipParams,
        response: { 200: Envelope(ClipAudio), ...ErrorResponses },
        detail: { summary: "A clip's narration and dialogue with audio links, voices and status", security },
      },
    )
    .post(
      `${base}/clips/:clipId/narration/upload`,
      async ({ params, body, caller }) =>
        ok(await audio.customNarration(deps, clip(params, caller), body.file, body.transcript)),
      {
        spaceRole: "editor",
        params: ClipParams,
        body: t.Object({
          file: Recording,
          transcript: t.Optional(
            t.String({ minLength: 1, maxLength: 2000, description: "What the recording says: the subtitles show it" }),
          ),
        }),
        response: { 200: Envelope(Clip), ...ErrorResponses },
        detail: { summary: "Narrate a clip with your own recording (kept until its text is edited)", security },
      },
    )
    .put(
      `${base}/settings`,
      async ({ params, body, caller }) => ok(await timeline.setFps(db, project(params, caller), body.fps)),
      {
        spaceRole: "editor",
        params: t.Object({ id: uuid }),
        body: t.Object({ fps: literals(FPS_VALUES) }),
        response: { 200: Envelope(Timeline), ...ErrorResponses },
        detail: { summary: "The timeline's frame rate (exports use it unless they ask for another)", security },
      },
    );
}
