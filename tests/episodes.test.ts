import { describe, expect, test } from "bun:test";
import { analyseStory } from "../src/providers/local/analyser/index.ts";
import { checkPlan, PlanError, planEpisodes, type SeriesSource } from "../src/story/episodes.ts";
import { seasonNovel } from "./fixtures/season.ts";
import { pipelineContext } from "./support/pipeline.ts";

const NOVEL = seasonNovel();
const analysis = analyseStory(NOVEL);
const source: SeriesSource = {
  language: analysis.storyline.language,
  chapters: analysis.storyline.chapters,
  scenes: analysis.scenes,
  shots: analysis.shots,
};
const problems = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof PlanError) return e.problems;
    throw e;
  }
  throw new Error("no PlanError");
};

describe("planning a season from the storyboard", () => {
  test("the 20-chapter novel: six recurring characters, every chapter its own scenes", () => {
    expect(analysis.storyline.chapters).toHaveLength(20);
    expect(analysis.characters.map((c) => c.name).sort()).toEqual(
      ["林小雨", "陈墨", "周掌柜", "苏婉", "老赵", "阿福"].sort(),
    );
  });

  test("by chapters: no episode crosses a chapter, each within 25% of the target, the whole storyboard once", () => {
    const target = 75;
    const plan = planEpisodes(source, { target_episode_s: target });
    expect(plan.length).toBeGreaterThan(20);
    for (const e of plan) {
      expect(e.chapters).toHaveLength(1);
      expect(Math.abs(e.estimated_s - target) / target).toBeLessThanOrEqual(0.25);
    }
    expect(plan.reduce((n, e) => n + e.shot_count, 0)).toBe(source.shots.length);
    expect(plan[0]!.first_shot).toBe(source.shots[0]!.id);
    expect(plan.at(-1)!.last_shot).toBe(source.shots.at(-1)!.id);
    expect(plan.map((e) => e.index)).toEqual(plan.map((_, i) => i + 1));
    expect(plan[0]!.title).toStartWith("第1集");
    // The same storyboard, the same plan.
    expect(planEpisodes(source, { target_episode_s: target })).toEqual(plan);
  });

  test("an episode count is honoured, splitting chapters or packing whole ones", () => {
    for (const count of [40, 30, 20]) {
      const plan = planEpisodes(source, { episode_count: count });
      expect(plan).toHaveLength(count);
      for (const e of plan) expect(e.chapters).toHaveLength(1);
    }
    const packed = planEpisodes(source, { episode_count: 10 });
    expect(packed).toHaveLength(10);
    // Whole chapters, two to an episode: none is cut in half.
    for (const e of packed) expect(e.chapters).toHaveLength(2);
    const seen = packed.flatMap((e) => e.chapters);
    expect(seen).toEqual([...new Set(seen)]);
  });

  test("by beats: cuts at scene changes near the target, preferring a hanging line", () => {
    const plan = planEpisodes(source, { split: "beats", target_episode_s: 75 });
    const starts = new Set(plan.slice(1).map((e) => e.first_shot));
    const sceneStarts = new Set(
      source.shots.filter((s, i) => i > 0 && source.shots[i - 1]!.sceneId !== s.sceneId).map((s) => s.id),
    );
    const atScenes = [...starts].filter((s) => sceneStarts.has(s)).length;
    expect(atScenes).toBe(starts.size);
    // Scenes here run about 49 s: episodes of one or two of them, around the 75 s asked for.
    for (const e of plan) expect(Math.abs(e.estimated_s - 75) / 75).toBeLessThanOrEqual(0.4);
    // Where two scene changes are about as near, the one after a question wins.
    const hanging = plan.slice(0, -1).filter((e) => {
      const last = source.shots.find((s) => s.id === e.last_shot)!;
      return /[？?]/.test(last.dialogue.at(-1)?.text ?? last.narration);
    });
    expect(hanging.length).toBeGreaterThan(0);
  });

  test("bad options and bad edits are refused naming the problem", () => {
    expect(problems(() => planEpisodes(source, { target_episode_s: 5 }))[0]!.field).toBe("target_episode_s");
    expect(problems(() => planEpisodes(source, { episode_count: 10_000 }))[0]!.field).toBe("episode_count");
    expect(problems(() => planEpisodes(source, { episode_count: 3, target_episode_s: 60 }))[0]!.field).toBe(
      "episode_count",
    );
    const plan = planEpisodes(source, { target_episode_s: 75 });
    const edit = plan.map((e) => ({ title: e.title, first_shot: e.first_shot, last_shot: e.last_shot }));
    // Merging the first two episodes is fine; their titles are the creator's.
    const merged = checkPlan(source, [
      { title: "开篇", first_shot: edit[0]!.first_shot, last_shot: edit[1]!.last_shot },
      ...edit.slice(2),
    ]);
    expect(merged).toHaveLength(plan.length - 1);
    expect(merged[0]).toMatchObject({ index: 1, title: "开篇", shot_count: plan[0]!.shot_count + plan[1]!.shot_count });
    // A gap: the second episode starts one shot late.
    const i = source.shots.findIndex((s) => s.id === edit[1]!.first_shot);
    const gap = problems(() =>
      checkPlan(source, [edit[0]!, { ...edit[1]!, first_shot: source.shots[i + 1]!.id }, ...edit.slice(2)]),
    );
    expect(gap[0]).toMatchObject({ field: "episodes[1].first_shot" });
    expect(gap[0]!.message).toContain("gap");
    const overlap = problems(() =>
      checkPlan(source, [edit[0]!, { ...edit[1]!, first_shot: source.shots[i - 1]!.id }, ...edit.slice(2)]),
    );
    expect(overlap[0]!.message).toContain("overlaps");
    expect(problems(() => checkPlan(source, edit.slice(0, -1)))[0]!.message).toContain("gap");
    expect(problems(() => checkPlan(source, [{ ...edit[0]!, last_shot: "c99s1h1" }]))[0]!.field).toBe(
      "episodes[0].last_shot",
    );
  });
});

describe("the season over the API", async () => {
  const ctx = await pipelineContext();
  await ctx.startWorker();

  test("plan, list and edit a project's episodes; others see nothing; bad plans are 400", async () => {
    const me = await ctx.register();
    const created = await ctx.call("POST", "/api/v1/projects", {
      token: me.token,
      body: { input: { type: "novel", text: NOVEL } },
    });
    const projectId = created.json.data.id;
    // No storyboard yet: nothing to plan from.
    const early = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/plan`, { token: me.token, body: {} });
    expect(early.status).toBe(409);
    const started = await ctx.call("POST", `/api/v1/projects/${projectId}/runs`, {
      token: me.token,
      body: { mode: "step", to_stage: "storyboard" },
    });
    await ctx.waitForRun(me.token, started.json.data.id, ["paused", "failed"]);

    const planned = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/plan`, {
      token: me.token,
      body: { target_episode_s: 75 },
    });
    expect(planned.status).toBe(200);
    const season = planned.json.data;
    expect(season.length).toBeGreaterThan(20);
    expect(season[0]).toMatchObject({ index: 1, chapters: [1] });
    const listed = await ctx.call("GET", `/api/v1/projects/${projectId}/episodes`, { token: me.token });
    expect(listed.json.data.map((e: { id: string }) => e.id)).toEqual(season.map((e: { id: string }) => e.id));

    const edit = season.map((e: { title: string; first_shot: string; last_shot: string }) => ({
      title: e.title,
      first_shot: e.first_shot,
      last_shot: e.last_shot,
    }));
    const saved = await ctx.call("PUT", `/api/v1/projects/${projectId}/episodes`, {
      token: me.token,
      body: { episodes: [{ ...edit[0], last_shot: edit[1].last_shot, title: "开篇" }, ...edit.slice(2)] },
    });
    expect(saved.status).toBe(200);
    expect(saved.json.data).toHaveLength(season.length - 1);
    expect(saved.json.data[0].title).toBe("开篇");

    // A plan that leaves shots out: 400 naming the episode, and the saved plan is untouched.
    const gap = await ctx.call("PUT", `/api/v1/projects/${projectId}/episodes`, {
      token: me.token,
      body: { episodes: edit.slice(0, 3) },
    });
    expect(gap.status).toBe(400);
    expect(gap.json.error.code).toBe("VALIDATION_ERROR");
    expect(JSON.stringify(gap.json.error.details)).toContain("gap");
    const tiny = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/plan`, {
      token: me.token,
      body: { target_episode_s: 5 },
    });
    expect(tiny.status).toBe(400);
    expect(JSON.stringify(tiny.json.error.details)).toContain("target_episode_s");
    const many = await ctx.call("POST", `/api/v1/projects/${projectId}/episodes/plan`, {
      token: me.token,
      body: { episode_count: 10_000 },
    });
    expect(many.status).toBe(400);
    const after = await ctx.call("GET", `/api/v1/projects/${projectId}/episodes`, { token: me.token });
    expect(after.json.data).toHaveLength(season.length - 1);

    // Another user's project does not exist for them.
    const other = await ctx.register();
    for (const [method, path, body] of [
      ["GET", `/api/v1/projects/${projectId}/episodes`, undefined],
      ["POST", `/api/v1/projects/${projectId}/episodes/plan`, {}],
      ["PUT", `/api/v1/projects/${projectId}/episodes`, { episodes: edit }],
    ] as const) {
      const res = await ctx.call(method, path, { token: other.token, ...(body ? { body } : {}) });
      expect(res.status).toBe(404);
    }
  });
});
