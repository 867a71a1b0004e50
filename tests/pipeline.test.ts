import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { probe } from "../src/media/ffmpeg.ts";
import { DELETE_KEYS } from "../src/pipeline/project-removal.ts";
import { pipelineContext, SHORT_STORY } from "./support/pipeline.ts";

const ctx = await pipelineContext();
await ctx.startWorker();

/** Fetches a signed URL through the app, as a client without a token would. */
async function download(url: string): Promise<Response> {
  const u = new URL(url);
  return ctx.app.handle(new Request(`http://localhost${u.pathname}${u.search}`));
}

describe("story to video, auto mode", () => {
  test("a short Chinese story becomes an MP4 whose length matches its shots, with the dialogue in its subtitles", async () => {
    const me = await ctx.register();
    const created = await ctx.call("POST", "/api/v1/projects", {
      token: me.token,
      body: { input: { type: "novel", text: SHORT_STORY } },
    });
    expect(created.status).toBe(201);
    const project = created.json.data;
    expect(project).toMatchObject({ status: "draft", name: "第一章 雨夜" });
    const started = await ctx.call("POST", `/api/v1/projects/${project.id}/runs`, {
      token: me.token,
      body: { mode: "auto" },
    });
    expect(started.status).toBe(202);
    const run = await ctx.waitForRun(me.token, started.json.data.id, ["completed", "failed"]);
    expect(run.error).toBeNull();
    expect(run.status).toBe("completed");
    expect(run.stages.every((s: { status: string }) => s.status === "completed")).toBe(true);
    const ex = (await ctx.call("GET", `/api/v1/exports/${run.export_id}`, { token: me.token })).json.data;
    expect(ex.status).toBe("completed");
    const video = ex.files.find((f: { file_type: string }) => f.file_type === "video");
    const srt = ex.files.find((f: { file_type: string }) => f.file_type === "subtitle");
    const res = await download(video.download_url);
    expect(res.status).toBe(200);
    const dir = mkdtempSync(join(tmpdir(), "inkreel-pipeline-"));
    await Bun.write(join(dir, "v.mp4"), await res.arrayBuffer());
    const info = await probe(join(dir, "v.mp4"));
    expect(info.streams.map((s) => s.codec_type).sort()).toEqual(["audio", "video"]);
    const shots = await ctx.db
      .selectFrom("package_shots")
      .select("data")
      .where("package_id", "=", run.package_id)
      .execute();
    const total = shots.reduce((s, r) => s + Math.round((r.data as { durationS: number }).durationS * 24) / 24, 0);
    expect(Math.abs(info.durationS - total)).toBeLessThanOrEqual(0.1);
    const subtitles = await (await download(srt.download_url)).text();
    const spoken = subtitles
      .split("\n")
      .filter((l) => l.trim() && !/^\d+$/.test(l) && !l.includes("-->"))
      .join("");
    for (const line of [
      "你来了？今天还是老样子？",
      "一壶龙井，谢谢周掌柜。",
      "林小姐，这是你父亲留下的信。",
      "你怎么认识我父亲？",
    ])
      expect(spoken).toContain(line);
    // Every keyframe was laid out by the local painter, so its clip was painted in layers; the
    // speakers of each shot stand in it, their mouths where the clip opens them.
    const keyframes = await ctx.db
      .selectFrom("assets")
      .select("meta")
      .where("project_id", "=", project.id)
      .where("kind", "=", "keyframe")
      .execute();
    expect(keyframes.length).toBe(shots.length);
    for (const k of keyframes) expect(k.meta.layout?.painter).toBe("inkreel-painter-1@5");
    const figures = new Set(keyframes.flatMap((k) => k.meta.layout!.figures.map((f) => f.name)));
    expect([...figures]).toEqual(expect.arrayContaining(["林小雨", "周掌柜"]));
    // The cover is a poster painted for it (the title over the main characters), not a shot's frame.
    const posters = await ctx.db
      .selectFrom("assets")
      .select("meta")
      .where("project_id", "=", project.id)
      .where("kind", "=", "poster")
      .execute();
    expect(posters.length).toBe(1);
    expect(posters[0]!.meta.layout!.scene.characters.length).toBeGreaterThan(0);
    expect(ex.files.some((f: { file_type: string }) => f.file_type === "cover")).toBe(true);
    const p = (await ctx.call("GET", `/api/v1/projects/${project.id}`, { token: me.token })).json.data;
    // Completed, with its export finished: "exported" (seed 003).
    expect(p).toMatchObject({ status: "exported", progress: 100 });
    // The export is a work of its creator (seed 004's works list), sharing the export's video and cover.
    const works = (await ctx.call("GET", "/api/v1/works?type=video", { token: me.token })).json.data;
    expect(works.items).toHaveLength(1);
    expect(works.items[0]).toMatchObject({ export_id: run.export_id, status: "completed", title: "第一章 雨夜" });
    expect(works.items[0].file_size).toBe(video.file_size);
    expect(works.items[0].thumbnail_url).not.toBeNull();
    // Deleting the work keeps the export's files (the export still names them).
    expect((await ctx.call("DELETE", `/api/v1/works/${works.items[0].id}`, { token: me.token })).status).toBe(200);
    expect((await download(video.download_url)).status).toBe(200);
    const removals = await ctx.db.selectFrom("jobs").select("id").where("kind", "=", DELETE_KEYS).execute();
    const removed = await ctx.db.selectFrom("job_history").select("id").where("kind", "=", DELETE_KEYS).execute();
    expect([...removals, ...removed]).toEqual([]);

    // Watching it being made: the SSE backlog holds every stage's start and end, export progress and the end of the run.
    const sse = await ctx.app.handle(
      new Request(`http://localhost/api/v1/projects/${project.id}/events?token=${me.token}`),
    );
    expect(sse.headers.get("content-type")).toContain("text/event-stream");
    const reader = sse.body!.getReader();
    let text = "";
    while (!text.includes("event: completed\n") || (text.match(/event: completed\n/g) ?? []).length < 2) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await reader.cancel();
    const events = text
      .split("\n\n")
      .filter((b) => b.includes("data: "))
      .map((b) => ({ event: /event: (\w+)/.exec(b)?.[1], data: JSON.parse(/data: (.*)/.exec(b)![1]!) }));
    for (const stage of ["storyline", "keyframes", "voices", "clips", "export"]) {
      expect(
        events.some((e) => e.event === "stage" && e.data.stage === stage && e.data.status === "running"),
        stage,
      ).toBe(true);
      expect(
        events.some((e) => e.event === "stage" && e.data.stage === stage && e.data.status === "completed"),
        stage,
      ).toBe(true);
    }
    expect(events.some((e) => e.event === "progress" && e.data.export_id === run.export_id)).toBe(true);
    expect(
      events
        .filter((e) => e.event === "completed")
        .map((e) => e.data.export_id ?? null)
        .sort(),
    ).toEqual([null, run.export_id].sort());
  });
});
