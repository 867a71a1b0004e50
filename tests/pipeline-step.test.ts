import { describe, expect, test } from "bun:test";
import { pipelineContext, SHORT_STORY, unsigned } from "./support/pipeline.ts";

const ctx = await pipelineContext();
await ctx.startWorker();

describe("step mode and redo", () => {
  test("stop after the storyboard, edit a shot, continue to the video", async () => {
    const me = await ctx.register();
    const project = (
      await ctx.call("POST", "/api/v1/projects", {
        token: me.token,
        body: { input: { type: "novel", text: SHORT_STORY } },
      })
    ).json.data;
    const started = await ctx.call("POST", `/api/v1/projects/${project.id}/runs`, {
      token: me.token,
      body: { mode: "step", to_stage: "storyboard" },
    });
    expect(started.status).toBe(202);
    const paused = await ctx.waitForRun(me.token, started.json.data.id, ["paused", "failed"]);
    expect(paused.status).toBe("paused");
    const byStage = Object.fromEntries(
      paused.stages.map((s: { stage: string; status: string }) => [s.stage, s.status]),
    );
    expect(byStage).toMatchObject({
      storyline: "completed",
      storyboard: "completed",
      keyframes: "pending",
      export: "pending",
    });
    expect((await ctx.call("GET", `/api/v1/projects/${project.id}`, { token: me.token })).json.data.status).toBe(
      "editing",
    );

    const timeline = (await ctx.call("GET", `/api/v1/projects/${project.id}/timeline`, { token: me.token })).json.data;
    const first = timeline.clips[0];
    expect(first.selected_image_id).toBeNull();
    const edited = await ctx.call("PUT", `/api/v1/projects/${project.id}/timeline/clips/${first.id}/narration`, {
      token: me.token,
      body: { text_content: "那天傍晚，雨下得很大。" },
    });
    expect(edited.status).toBe(200);
    expect(edited.json.data.clip.lines[0].text).toBe("那天傍晚，雨下得很大。");

    const resumed = await ctx.call("POST", `/api/v1/projects/${project.id}/runs`, {
      token: me.token,
      body: { mode: "auto" },
    });
    expect(resumed.status).toBe(202);
    // Continuing starts where the package left off: the analysis stages are not redone.
    expect(resumed.json.data.stages.find((s: { stage: string }) => s.stage === "storyboard").status).toBe("completed");
    const done = await ctx.waitForRun(me.token, resumed.json.data.id, ["completed", "failed"]);
    expect(done.error).toBeNull();
    expect(done.package_id).toBe(paused.package_id);
    const after = (await ctx.call("GET", `/api/v1/projects/${project.id}/timeline`, { token: me.token })).json.data;
    expect(after.clips[0].lines[0].text).toBe("那天傍晚，雨下得很大。");
    expect(after.clips.every((c: { selected_image_id: string | null }) => c.selected_image_id)).toBe(true);
  });

  test("redo from the storyboard makes version 2; version 1 stays intact and can be switched back to", async () => {
    const me = await ctx.register();
    const project = (
      await ctx.call("POST", "/api/v1/projects", {
        token: me.token,
        body: { input: { type: "novel", text: SHORT_STORY } },
      })
    ).json.data;
    const first = await ctx.call("POST", `/api/v1/projects/${project.id}/runs`, {
      token: me.token,
      body: { mode: "step", to_stage: "storyboard" },
    });
    const v1run = await ctx.waitForRun(me.token, first.json.data.id, ["paused"]);
    const v1 = (await ctx.call("GET", `/api/v1/material-packages/${v1run.package_id}`, { token: me.token })).json.data;
    expect(v1.version).toBe(1);

    const redo = await ctx.call("POST", `/api/v1/projects/${project.id}/runs`, {
      token: me.token,
      body: { mode: "step", from_stage: "storyboard", to_stage: "storyboard" },
    });
    expect(redo.status).toBe(202);
    const v2run = await ctx.waitForRun(me.token, redo.json.data.id, ["paused", "failed"]);
    expect(v2run.status).toBe("paused");
    expect(v2run.package_id).not.toBe(v1run.package_id);
    const list = (await ctx.call("GET", `/api/v1/projects/${project.id}/material-packages`, { token: me.token })).json
      .data.list;
    expect(list.map((p: { version: number; is_active: boolean }) => [p.version, p.is_active])).toEqual([
      [1, false],
      [2, true],
    ]);
    // Version 1 is exactly as it was.
    expect(
      unsigned((await ctx.call("GET", `/api/v1/material-packages/${v1run.package_id}`, { token: me.token })).json.data),
    ).toEqual(unsigned({ ...v1, is_active: false }));

    const switched = await ctx.call("POST", `/api/v1/material-packages/${v1run.package_id}/switch`, {
      token: me.token,
    });
    expect(switched.status).toBe(200);
    expect(
      (await ctx.call("GET", `/api/v1/projects/${project.id}`, { token: me.token })).json.data.active_package_id,
    ).toBe(v1run.package_id);
    const saved = await ctx.call("POST", `/api/v1/material-packages/${v1run.package_id}/save-new`, {
      token: me.token,
      body: { package_name: "copy of v1" },
    });
    expect(saved.status).toBe(201);
    expect(saved.json.data.version).toBe(3);
  });
});
