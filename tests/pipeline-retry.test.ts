import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { pipelineContext, SHORT_STORY, WAIT_MS, waitUntil } from "./support/pipeline.ts";

const ctx = await pipelineContext();
await ctx.startWorker();

async function projectPausedAfter(token: string, stage: string) {
  const project = (
    await ctx.call("POST", "/api/v1/projects", { token, body: { input: { type: "novel", text: SHORT_STORY } } })
  ).json.data;
  const run = (
    await ctx.call("POST", `/api/v1/projects/${project.id}/runs`, { token, body: { mode: "step", to_stage: stage } })
  ).json.data;
  return { project, run: await ctx.waitForRun(token, run.id, ["paused"]) };
}

describe("Idempotency-Key on paid work", () => {
  test("the same key and body replays the first run; the same key with another body is 409", async () => {
    const me = await ctx.register();
    const project = (
      await ctx.call("POST", "/api/v1/projects", {
        token: me.token,
        body: { input: { type: "novel", text: SHORT_STORY } },
      })
    ).json.data;
    const path = `/api/v1/projects/${project.id}/runs`;
    const headers = { "idempotency-key": `run-${crypto.randomUUID()}` };
    const first = await ctx.call("POST", path, {
      token: me.token,
      headers,
      body: { mode: "step", to_stage: "storyline" },
    });
    const again = await ctx.call("POST", path, {
      token: me.token,
      headers,
      body: { mode: "step", to_stage: "storyline" },
    });
    expect([first.status, again.status]).toEqual([202, 202]);
    expect(again.json.data.id).toBe(first.json.data.id);
    const other = await ctx.call("POST", path, {
      token: me.token,
      headers,
      body: { mode: "step", to_stage: "scenes" },
    });
    expect(other.status).toBe(409);
    expect((await ctx.db.selectFrom("runs").select("id").where("project_id", "=", project.id).execute()).length).toBe(
      1,
    );
    await ctx.waitForRun(me.token, first.json.data.id, ["paused"]);
  });
});

describe("failed stages: which shot and why, retry, skip", () => {
  test("a shot whose keyframe is gone fails the clips stage naming the shot; retry after the fix completes the run", async () => {
    const me = await ctx.register();
    const { project } = await projectPausedAfter(me.token, "voices");
    const timeline = (await ctx.call("GET", `/api/v1/projects/${project.id}/timeline`, { token: me.token })).json.data;
    // A shot whose picture no other shot shares (identical pictures share one cached file).
    const images = await ctx.db
      .selectFrom("assets")
      .selectAll()
      .where(
        "id",
        "in",
        timeline.clips.map((c: { selected_image_id: string }) => c.selected_image_id),
      )
      .execute();
    const asset = images.find((a) => images.filter((b) => b.sha256 === a.sha256).length === 1)!;
    expect(asset).toBeDefined();
    const victim = timeline.clips.find((c: { selected_image_id: string }) => c.selected_image_id === asset.id);
    const bytes = await ctx.deps.storage.get(asset.storage_key);
    await ctx.deps.storage.delete(asset.storage_key);
    // The worker's local copy (files are cached by content hash) goes too, as on a fresh machine.
    rmSync(join(ctx.config.dataDir, "cache", "assets", `${asset.sha256}.png`), { force: true });

    const resumed = (
      await ctx.call("POST", `/api/v1/projects/${project.id}/runs`, { token: me.token, body: { mode: "auto" } })
    ).json.data;
    const failed = await ctx.waitForRun(me.token, resumed.id, ["failed", "completed"]);
    expect(failed.status).toBe("failed");
    const clips = failed.stages.find((s: { stage: string }) => s.stage === "clips");
    expect(clips.status).toBe("failed");
    expect(clips.error.shot_id).toBe(victim.id);
    expect(clips.error.message).toContain(asset.storage_key);
    expect(failed.error).toMatchObject({ stage: "clips", shot_id: victim.id });
    expect((await ctx.call("GET", `/api/v1/projects/${project.id}`, { token: me.token })).json.data.status).toBe(
      "failed",
    );

    await ctx.deps.storage.put(asset.storage_key, bytes, { contentType: asset.mime_type });
    const retried = await ctx.call("POST", `/api/v1/runs/${resumed.id}/retry`, { token: me.token });
    expect(retried.status).toBe(202);
    expect(retried.json.data.status).toBe("running");
    const done = await ctx.waitForRun(me.token, resumed.id, ["completed", "failed"]);
    expect({ status: done.status, error: done.error }).toEqual({ status: "completed", error: null });
    expect(done.stages.find((s: { stage: string }) => s.stage === "clips").error ?? null).toBeNull();
    expect((await ctx.call("POST", `/api/v1/runs/${resumed.id}/retry`, { token: me.token })).status).toBe(409);
  });

  test("skipping the clips stage of a paused run: the video is made from the keyframes", async () => {
    const me = await ctx.register();
    const { run } = await projectPausedAfter(me.token, "keyframes");
    expect(
      (await ctx.call("POST", `/api/v1/runs/${run.id}/skip`, { token: me.token, body: { stage: "storyline" } })).status,
    ).toBe(409);
    expect(
      (await ctx.call("POST", `/api/v1/runs/${run.id}/skip`, { token: me.token, body: { stage: "paint" } })).status,
    ).toBe(400);
    const skipped = await ctx.call("POST", `/api/v1/runs/${run.id}/skip`, {
      token: me.token,
      body: { stage: "clips" },
    });
    expect(skipped.status).toBe(202);
    const done = await ctx.waitForRun(me.token, run.id, ["completed", "failed"]);
    expect(done.status).toBe("completed");
    expect(
      Object.fromEntries(done.stages.map((s: { stage: string; status: string }) => [s.stage, s.status])),
    ).toMatchObject({ voices: "completed", clips: "skipped", music: "completed", export: "completed" });
    const timeline = (await ctx.call("GET", `/api/v1/projects/${done.project_id}/timeline`, { token: me.token })).json
      .data;
    expect(timeline.clips.every((c: { clip_type: string }) => c.clip_type === "image")).toBe(true);
  });
});

describe("cancelling an export", () => {
  test("a queued export is cancelled: it never completes and stores nothing; a finished one cannot be cancelled", async () => {
    const me = await ctx.register();
    const { project } = await projectPausedAfter(me.token, "music");
    const started = await ctx.call("POST", `/api/v1/projects/${project.id}/exports`, {
      token: me.token,
      body: { resolution: "1080p" },
    });
    expect(started.status).toBe(202);
    const cancelled = await ctx.call("POST", `/api/v1/exports/${started.json.data.id}/cancel`, { token: me.token });
    expect(cancelled.status).toBe(200);
    expect(cancelled.json.data.status).toBe("cancelled");
    const jobsLeft = async () =>
      (await ctx.db.selectFrom("jobs").select("id").where("kind", "=", "pipeline.export").execute()).length;
    await waitUntil(
      "the cancelled export's job to leave the queue",
      async () => (await jobsLeft()) === 0,
      WAIT_MS,
      100,
    );
    expect(await jobsLeft()).toBe(0);
    expect(
      (await ctx.call("GET", `/api/v1/exports/${started.json.data.id}`, { token: me.token })).json.data,
    ).toMatchObject({ status: "cancelled", files: [] });
    expect(await ctx.deps.storage.list(`projects/${project.id}/exports/${started.json.data.id}/`)).toEqual([]);

    const second = await ctx.call("POST", `/api/v1/projects/${project.id}/exports`, { token: me.token, body: {} });
    const done = await ctx.waitForExport(me.token, second.json.data.id);
    expect(done.status).toBe("completed");
    expect((await ctx.call("POST", `/api/v1/exports/${second.json.data.id}/cancel`, { token: me.token })).status).toBe(
      409,
    );
  });
});
