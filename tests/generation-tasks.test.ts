// Generation tasks: every regeneration, clip video, batch and voice is a task its owner can read
// (status, progress, result with signed links, error with the reason) and follow on the project's
// event stream; a batch of clip videos is one parent task with a child per clip. A provider that
// refuses (the fake fal answering 422) makes a failed task that says why.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import type { ProjectEventData } from "../src/core/project-event.ts";
import { clientEventType } from "../src/realtime/mapping.ts";
import { startFakeFal } from "./support/fake-fal.ts";
import { reply, startFakeOpenAI } from "./support/fake-openai.ts";
import { completedProject, fetchSigned, pipelineContext, waitUntil } from "./support/pipeline.ts";

const fal = await startFakeFal();
const openai = await startFakeOpenAI();
const ctx = await pipelineContext({
  FAL_KEY: fal.key,
  FAL_BASE_URL: fal.url,
  FAL_POLL_INTERVAL_MS: "20",
  OPENAI_API_KEY: openai.apiKey,
  OPENAI_BASE_URL: openai.url,
});
await ctx.startWorker();
afterAll(() => {
  fal.stop();
  openai.stop();
});
afterEach(async () => {
  await ctx.db.deleteFrom("provider_chains").execute();
  fal.reset();
  openai.reset();
});

type Task = {
  id: string;
  kind: string;
  status: string;
  progress: number;
  target: { type: string; id: string; shot_number?: number };
  params: { seed?: number };
  result: { assets: Array<{ asset_id: string; mime_type: string; url: string }> } | null;
  error: { code: string; message: string } | null;
  cost_estimate_usd: number | null;
  children: Task[];
  total_clips: number;
  completed_clips: number;
  failed_clips: number;
  finished_at: string | null;
};

let shared: Promise<{ token: string; projectId: string; clips: Array<{ id: string }> }> | null = null;
function finished() {
  shared ??= (async () => {
    const me = await ctx.register("maker");
    const { project } = await completedProject(ctx, me.token);
    const timeline = await ctx.call("GET", `/api/v1/projects/${project.id}/timeline`, { token: me.token });
    return { token: me.token, projectId: project.id, clips: timeline.json.data.clips };
  })();
  return shared;
}

async function settled(token: string, taskId: string): Promise<Task> {
  return waitUntil(`task ${taskId} to end`, async () => {
    const res = await ctx.call("GET", `/api/v1/tasks/${taskId}`, { token });
    expect(res.status).toBe(200);
    const t: Task = res.json.data;
    return ["completed", "failed", "cancelled"].includes(t.status) ? t : null;
  });
}

type Logged = { event: string; data: ProjectEventData };

/** The project's logged events over SSE (the whole backlog), up to the first one `until` accepts. */
async function sseUntil(token: string, projectId: string, until: (e: Logged) => boolean) {
  const res = await ctx.app.handle(
    new Request(`http://localhost/api/v1/projects/${projectId}/events`, {
      headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" },
    }),
  );
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const seen: Array<Logged> = [];
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended after ${seen.length} events`);
      buffer += decoder.decode(value, { stream: true });
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.+)$/m.exec(frame)?.[1];
        const data = /^data: (.+)$/m.exec(frame)?.[1];
        if (!event || !data) continue;
        const e = { event, data: JSON.parse(data) };
        seen.push(e);
        if (until(e)) return seen;
      }
    }
  } finally {
    await reader.cancel();
  }
}

describe("generation tasks", () => {
  test("a keyframe regeneration is a task: processing, then completed with the new picture, on SSE too", async () => {
    const { token, projectId, clips } = await finished();
    const clip = clips[0]!;
    const queued = await ctx.call("POST", `/api/v1/projects/${projectId}/timeline/clips/${clip.id}/regenerate-image`, {
      token,
      body: { seed: 7 },
    });
    expect(queued.status).toBe(202);
    const [taskId] = queued.json.data.task_ids;
    expect(queued.json.data.job_ids).toHaveLength(1);

    const task = await settled(token, taskId);
    expect(task).toMatchObject({
      kind: "keyframe",
      status: "completed",
      progress: 100,
      target: { type: "clip", id: clip.id, shot_number: 1 },
      params: { seed: 7 },
      error: null,
      // The local painter costs nothing, and the estimate says so.
      cost_estimate_usd: 0,
    });
    expect(task.finished_at).not.toBeNull();
    const [made] = task.result!.assets;
    expect(made!.mime_type).toMatch(/^image\//);
    const picture = await fetchSigned(ctx, made!.url);
    expect(picture.status).toBe(200);
    expect((await picture.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    // It is the clip's selected image now.
    const timeline = await ctx.call("GET", `/api/v1/projects/${projectId}/timeline`, { token });
    expect(timeline.json.data.clips[0].selected_image_id).toBe(made!.asset_id);

    const list = await ctx.call("GET", `/api/v1/projects/${projectId}/tasks?kind=keyframe`, { token });
    expect(list.status).toBe(200);
    expect(list.json.data.items.map((t: Task) => t.id)).toContain(taskId);

    const events = await sseUntil(token, projectId, (e) => e.event === "task_completed" && e.data.task_id === taskId);
    const mine = events.filter((e) => e.data.task_id === taskId);
    expect(mine.map((e) => e.event)).toEqual(["task_progress", "task_completed"]);
    expect(mine[0]!.data).toMatchObject({ status: "processing", task_kind: "keyframe", run_id: null });
    expect(mine[1]!.data).toMatchObject({ status: "completed", progress: 100, target: { id: clip.id } });
    // On the WebSocket and Supabase broadcast these are seed 003's generation.* events.
    expect(clientEventType("task_completed", mine[1]!.data)).toBe("generation.completed");
  });

  test("a provider that refuses makes a failed task that says why, on SSE as task_failed", async () => {
    const { token, projectId } = await finished();
    await ctx.db
      .insertInto("provider_chains")
      .values({ capability: "image", chain: JSON.stringify([{ provider: "fal", model: "fal-ai/flux/dev" }]) })
      .execute();
    fal.fault({
      call: "submit",
      status: 422,
      body: {
        detail: [{ loc: ["body", "prompt"], msg: "content policy: this prompt was refused", type: "value_error" }],
      },
      times: Number.POSITIVE_INFINITY,
    });
    const queued = await ctx.call(
      "POST",
      `/api/v1/material-packages/${await packageOf(token, projectId)}/regenerate/image`,
      {
        token,
        body: { element: "scene", id: await firstScene(token, projectId) },
      },
    );
    expect(queued.status).toBe(202);
    const [taskId] = queued.json.data.task_ids;
    const task = await settled(token, taskId);
    expect(task.status).toBe("failed");
    expect(task.kind).toBe("scene_image");
    expect(task.error!.code).toBe("AI_SERVICE_ERROR");
    expect(task.error!.message).toContain("content policy");
    expect(task.result).toBeNull();
    // fal's list price for one picture, estimated before the call.
    expect(task.cost_estimate_usd).toBeCloseTo(0.025, 6);

    const events = await sseUntil(token, projectId, (e) => e.event === "task_failed" && e.data.task_id === taskId);
    expect(events.at(-1)!.data).toMatchObject({ status: "failed", task_kind: "scene_image" });
    expect(events.at(-1)!.data.message).toContain("content policy");
    const failedList = await ctx.call("GET", `/api/v1/projects/${projectId}/tasks?status=failed`, { token });
    expect(failedList.json.data.items.map((t: Task) => t.id)).toEqual([taskId]);
  });

  test("a batch of clip videos is one task whose clips are its children; its progress is theirs", async () => {
    const { token, projectId, clips } = await finished();
    // Every clip already has a video: a batch that names none has nothing to do.
    const none = await ctx.call("POST", `/api/v1/projects/${projectId}/timeline/generate-videos`, { token, body: {} });
    expect(none.status).toBe(409);

    const picked = clips.slice(0, 2).map((c) => c.id);
    const queued = await ctx.call("POST", `/api/v1/projects/${projectId}/timeline/generate-videos`, {
      token,
      body: { clip_ids: [...picked, picked[0]] },
    });
    expect(queued.status).toBe(202);
    const { task_id: batchId, task_ids, total_clips } = queued.json.data;
    // A clip named twice is made once.
    expect(total_clips).toBe(2);
    expect(task_ids).toHaveLength(2);

    const batch = await settled(token, batchId);
    expect(batch).toMatchObject({ kind: "video_batch", status: "completed", progress: 100, total_clips: 2 });
    expect(batch.completed_clips).toBe(2);
    expect(batch.failed_clips).toBe(0);
    expect(batch.children.map((c) => c.id).sort()).toEqual([...task_ids].sort());
    for (const child of batch.children) {
      expect(child).toMatchObject({ kind: "clip_video", status: "completed" });
      expect(child.result!.assets[0]!.mime_type).toBe("video/mp4");
    }
    // Children are listed under their batch, not beside it.
    const list = await ctx.call("GET", `/api/v1/projects/${projectId}/tasks?kind=clip_video`, { token });
    expect(list.json.data.total).toBe(0);

    const events = await sseUntil(token, projectId, (e) => e.event === "task_completed" && e.data.task_id === batchId);
    const perClip = events.filter((e) => e.data.parent_task_id === batchId);
    expect(perClip.filter((e) => e.event === "task_completed")).toHaveLength(2);
    expect(clientEventType("task_progress", perClip[0]!.data)).toBe("video.progress");
    expect(clientEventType("task_completed", events.at(-1)!.data)).toBe("video.completed");
  });

  test("an edited narration spoken now, not at the next export: a voice task with the new recording", async () => {
    const { token, projectId } = await finished();
    const base = `/api/v1/projects/${projectId}/timeline`;
    const clip = (await ctx.call("GET", base, { token })).json.data.clips.find(
      (c: { lines: Array<{ kind: string }> }) => c.lines.some((l) => l.kind === "narration"),
    );
    const before = clip.lines.find((l: { kind: string }) => l.kind === "narration");
    const edited = await ctx.call("PUT", `${base}/clips/${clip.id}/narration`, {
      token,
      body: { text_content: "灯塔的光，照亮了海。" },
    });
    expect(edited.status).toBe(200);
    expect(edited.json.data.clip.stale).toContain("voice");

    const queued = await ctx.call("POST", `${base}/clips/${clip.id}/regenerate-voice`, { token });
    expect(queued.status).toBe(202);
    const task = await settled(token, queued.json.data.task_ids[0]);
    expect(task).toMatchObject({ kind: "voice", status: "completed", target: { type: "clip", id: clip.id } });
    expect(task.result!.assets).toHaveLength(clip.lines.length);
    expect(task.result!.assets.every((a) => a.mime_type.startsWith("audio/"))).toBe(true);

    const after = (await ctx.call("GET", base, { token })).json.data.clips.find(
      (c: { id: string }) => c.id === clip.id,
    );
    expect(after.stale).not.toContain("voice");
    const narration = after.lines.find((l: { kind: string }) => l.kind === "narration");
    expect(narration.audio_id).not.toBe(before.audio_id);
    expect(task.result!.assets.map((a) => a.asset_id)).toContain(narration.audio_id);
  });

  test("runs are listed latest first; another user sees neither tasks nor runs", async () => {
    const { token, projectId } = await finished();
    const runs = await ctx.call("GET", `/api/v1/projects/${projectId}/runs`, { token });
    expect(runs.status).toBe(200);
    expect(runs.json.data.total).toBeGreaterThan(0);
    expect(runs.json.data.items[0]).toMatchObject({ project_id: projectId, status: "completed" });
    const tasks = (await ctx.call("GET", `/api/v1/projects/${projectId}/tasks`, { token })).json.data.items;
    expect(tasks.length).toBeGreaterThan(0);

    const other = await ctx.register("stranger");
    for (const path of [
      `/api/v1/projects/${projectId}/runs`,
      `/api/v1/projects/${projectId}/tasks`,
      `/api/v1/tasks/${tasks[0].id}`,
    ]) {
      const res = await ctx.call("GET", path, { token: other.token });
      expect(res.status).toBe(404);
      expect(res.json.error.code).toBe("NOT_FOUND");
    }
    const bad = await ctx.call("GET", `/api/v1/projects/${projectId}/tasks?status=done&kind=poster`, { token });
    expect(bad.status).toBe(400);
  });
});

describe("steering a regeneration", () => {
  test("model_id picks the model for this request alone; prompt and user_prompt reach it; the task keeps them", async () => {
    const { token, projectId, clips } = await finished();
    const clip = clips[1] ?? clips[0]!;
    const queued = await ctx.call("POST", `/api/v1/projects/${projectId}/timeline/clips/${clip.id}/regenerate-image`, {
      token,
      body: {
        prompt: "灯塔守护者在暴风雨中点亮灯 🌧️",
        user_prompt: "rain streaks on the window",
        model_id: "fal/fal-ai/flux/dev",
        seed: 99,
      },
    });
    expect(queued.status).toBe(202);
    const task = await settled(token, queued.json.data.task_ids[0]);
    expect(task.error).toBeNull();
    expect(task.status).toBe("completed");
    expect(task.params as Record<string, unknown>).toEqual({
      seed: 99,
      prompt: "灯塔守护者在暴风雨中点亮灯 🌧️",
      user_prompt: "rain streaks on the window",
      model_id: "fal/fal-ai/flux/dev",
    });
    expect(fal.submissions).toHaveLength(1);
    // The shot's characters have reference sheets: fal's image provider sends them to FLUX Kontext.
    expect(fal.submissions[0]!.endpoint).toStartWith("fal-ai/flux");
    const prompt: string = fal.submissions[0]!.input.prompt;
    expect(prompt).toContain("灯塔守护者在暴风雨中点亮灯 🌧️");
    expect(prompt.endsWith("rain streaks on the window")).toBe(true);
    // The shot's own description was replaced, not sent along.
    const shot = (await ctx.call("GET", `/api/v1/projects/${projectId}/timeline`, { token })).json.data.clips.find(
      (c: { id: string }) => c.id === clip.id,
    );
    expect(prompt).not.toContain(shot.description);
    expect(shot.selected_image_id).toBe(task.result!.assets[0]!.asset_id);
  });

  test("bad steering is refused before anything is queued", async () => {
    const { token, projectId, clips } = await finished();
    const url = `/api/v1/projects/${projectId}/timeline/clips/${clips[0]!.id}/regenerate-image`;
    const before = await ctx.db.selectFrom("generation_tasks").select("id").execute();
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [{ model_id: "nobody/no-such-model" }, 400, "VALIDATION_ERROR"],
      // A video model is not an image model.
      [{ model_id: "fal/fal-ai/kling-video/v2.1/standard/image-to-video" }, 400, "VALIDATION_ERROR"],
      [{ prompt: "x".repeat(4001) }, 400, "VALIDATION_ERROR"],
      [{ user_prompt: "night\u0000" }, 400, "VALIDATION_ERROR"],
      [{ reference_asset_ids: [crypto.randomUUID()] }, 404, "NOT_FOUND"],
      [{ reference_asset_ids: ["not-a-uuid"] }, 400, "VALIDATION_ERROR"],
    ];
    for (const [body, status, code] of cases) {
      const res = await ctx.call("POST", url, { token, body });
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.json.error.code).toBe(code);
    }
    const after = await ctx.db.selectFrom("generation_tasks").select("id").execute();
    expect(after.length).toBe(before.length);
  });

  test("a text instruction through OpenAI: only that field is sent, only that field changes", async () => {
    const { token, projectId } = await finished();
    const pkgId = await packageOf(token, projectId);
    const before = (await ctx.call("GET", `/api/v1/material-packages/${pkgId}`, { token })).json.data.materials;
    const scene = before.scenes[0];
    await ctx.db
      .insertInto("provider_chains")
      .values({ capability: "text", chain: JSON.stringify([{ provider: "openai", model: "gpt-4o-mini" }]) })
      .execute();
    openai.enqueue(reply.json({ value: "暴风雨之夜，海浪拍打着灯塔。" }));
    const res = await ctx.call("POST", `/api/v1/material-packages/${pkgId}/modify/text`, {
      token,
      body: { element: "scene", id: scene.id, field: "summary", instruction: "改成暴风雨之夜" },
    });
    expect(res.status).toBe(200);
    const chats = openai.requests.filter((r) => r.path === "/v1/chat/completions");
    expect(chats).toHaveLength(1);
    const user = chats[0]!.body.messages.find((m: { role: string }) => m.role === "user").content;
    expect(JSON.parse(user)).toEqual({
      element: "scene",
      id: scene.id,
      field: "summary",
      current: scene.summary,
      instruction: "改成暴风雨之夜",
    });
    expect(chats[0]!.body.response_format.json_schema.name).toBe("text_rewrite");

    const after = unlinked(res.json.data.materials);
    expect(after.scenes[0].summary).toBe("暴风雨之夜，海浪拍打着灯塔。");
    // Everything else is as it was.
    const was = unlinked(before);
    expect({ ...after, scenes: after.scenes.slice(1) }).toEqual({ ...was, scenes: was.scenes.slice(1) });
    expect({ ...after.scenes[0], summary: scene.summary }).toEqual(was.scenes[0]);
  });

  test("the local text model follows no instruction: 422, and nothing changes", async () => {
    const { token, projectId } = await finished();
    const pkgId = await packageOf(token, projectId);
    const before = (await ctx.call("GET", `/api/v1/material-packages/${pkgId}`, { token })).json.data.materials;
    const res = await ctx.call("POST", `/api/v1/material-packages/${pkgId}/modify/text`, {
      token,
      body: { element: "storyline", field: "tone", instruction: "make it darker" },
    });
    expect(res.status).toBe(422);
    expect(res.json.error.code).toBe("UNPROCESSABLE");
    expect(res.json.message).toContain("local text model");
    const both = await ctx.call("POST", `/api/v1/material-packages/${pkgId}/modify/text`, {
      token,
      body: { element: "storyline", field: "tone", value: "dark", instruction: "make it darker" },
    });
    expect(both.status).toBe(400);
    const after = (await ctx.call("GET", `/api/v1/material-packages/${pkgId}`, { token })).json.data.materials;
    expect(unlinked(after)).toEqual(unlinked(before));
  });
});

describe("every text element takes an edit", () => {
  test("art style, line and character name: each changes what it should and marks what it makes stale", async () => {
    const { token, projectId } = await finished();
    const pkgId = await packageOf(token, projectId);
    const url = `/api/v1/material-packages/${pkgId}/modify/text`;
    const tl = async () => (await ctx.call("GET", `/api/v1/projects/${projectId}/timeline`, { token })).json.data;
    const before = await tl();

    // A line's text: that clip's voice is stale, no other clip's.
    const clip = before.clips.find((c: { lines: unknown[] }) => c.lines.length > 0);
    const line = clip.lines[0];
    const edited = await ctx.call("POST", url, {
      token,
      body: { element: "line", id: line.id, field: "text", value: "新的台词。" },
    });
    expect(edited.status).toBe(200);
    const afterLine = await tl();
    const same = afterLine.clips.find((c: { id: string }) => c.id === clip.id);
    expect(same.lines[0].text).toBe("新的台词。");
    expect(same.stale).toContain("voice");

    // A character's name follows it into its shots and lines; another character's name is taken (409).
    const materials = (await ctx.call("GET", `/api/v1/material-packages/${pkgId}`, { token })).json.data.materials;
    const [first, second] = materials.characters;
    if (second) {
      const taken = await ctx.call("POST", url, {
        token,
        body: { element: "character", id: first.name, field: "name", value: second.name },
      });
      expect(taken.status).toBe(409);
    }
    const renamed = await ctx.call("POST", url, {
      token,
      body: { element: "character", id: first.name, field: "name", value: "新名字" },
    });
    expect(renamed.status).toBe(200);
    expect(renamed.json.data.materials.characters.map((c: { name: string }) => c.name)).toContain("新名字");
    const afterRename = await tl();
    const speakers = afterRename.clips.flatMap((c: { lines: Array<{ speaker: string | null }> }) =>
      c.lines.map((l) => l.speaker),
    );
    expect(speakers).not.toContain(first.name);
    const shots = (await ctx.call("GET", `/api/v1/material-packages/${pkgId}`, { token })).json.data.materials.shots;
    expect(JSON.stringify(shots)).not.toContain(`"${first.name}"`);

    // The art style's prompt: every keyframe is drawn again by the next export.
    const art = await ctx.call("POST", url, {
      token,
      body: { element: "art_style", field: "prompt", value: "watercolour, soft light" },
    });
    expect(art.status).toBe(200);
    expect(art.json.data.materials.art_style.prompt).toBe("watercolour, soft light");
    expect((await tl()).clips.every((c: { stale: string[] }) => c.stale.includes("keyframe"))).toBe(true);

    const bad = await ctx.call("POST", url, { token, body: { element: "art_style", field: "palette", value: "red" } });
    expect(bad.status).toBe(400);
    const none = await ctx.call("POST", url, {
      token,
      body: { element: "line", id: "no-such-line", field: "text", value: "x" },
    });
    expect(none.status).toBe(404);
  });

  test("a voice regeneration refuses a prompt (speech takes none) with 422 and queues nothing", async () => {
    const { token, projectId, clips } = await finished();
    const before = await ctx.db.selectFrom("generation_tasks").select("id").execute();
    const res = await ctx.call(
      "POST",
      `/api/v1/projects/${projectId}/timeline/clips/${clips[0]!.id}/regenerate-voice`,
      {
        token,
        body: { user_prompt: "whisper it" },
      },
    );
    expect(res.status).toBe(422);
    expect(res.json.error.code).toBe("UNPROCESSABLE");
    expect((await ctx.db.selectFrom("generation_tasks").select("id").execute()).length).toBe(before.length);
  });
});

/** Materials without their signed links, which change with the second they were signed in. */
function unlinked<T>(m: T): T {
  return JSON.parse(JSON.stringify(m, (k, v) => (/(^|_)url$|expire/.test(k) ? undefined : v)));
}

async function packageOf(token: string, projectId: string): Promise<string> {
  const res = await ctx.call("GET", `/api/v1/projects/${projectId}`, { token });
  return res.json.data.active_package_id;
}

async function firstScene(token: string, projectId: string): Promise<string> {
  const res = await ctx.call("GET", `/api/v1/material-packages/${await packageOf(token, projectId)}`, { token });
  return res.json.data.materials.scenes[0].id;
}
