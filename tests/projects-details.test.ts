// Seed 003 §1.3 / §2.1 and seed 001 §3 on projects: details and counts, empty projects and their
// input, create-and-run in one call, the result, input options, ADMIN listing and user settings.
import { describe, expect, test } from "bun:test";
import { imageSize } from "image-size";
import { sql } from "kysely";
import { paintKeyframe } from "../src/providers/local/painter.ts";
import { fitDurations } from "../src/story/timing.ts";
import { fetchSigned, pipelineContext, SHORT_STORY } from "./support/pipeline.ts";

const ctx = await pipelineContext();
await ctx.startWorker();

const create = (token: string, body: unknown) => ctx.call("POST", "/api/v1/projects", { token, body });
type Project = {
  id: string;
  status: string;
  has_input: boolean;
  active_package_id: string | null;
  clip_count: number;
  duration_s: number;
  export_count: number;
  thumbnail_url: string | null;
  started_at: string | null;
  completed_at: string | null;
  description: string;
  tags: string[];
};

describe("an empty project and its input", () => {
  test("created empty; refuses a run until it has a story; the story can change until a run starts", async () => {
    const me = await ctx.register();
    const made = await create(me.token, { name: "Later" });
    expect(made.status).toBe(201);
    const p = made.json.data as Project;
    expect(p.has_input).toBe(false);
    const early = await ctx.call("POST", `/api/v1/projects/${p.id}/runs`, { token: me.token, body: { mode: "auto" } });
    expect(early.status).toBe(409);
    expect(early.json.error.code).toBe("CONFLICT");

    const given = await ctx.call("POST", `/api/v1/projects/${p.id}/input`, {
      token: me.token,
      body: { type: "script", text: SHORT_STORY },
    });
    expect(given.status).toBe(200);
    expect(given.json.data.has_input).toBe(true);
    expect(given.json.data.input_type).toBe("script");
    // Still before any run: a second story simply replaces the first.
    const again = await ctx.call("POST", `/api/v1/projects/${p.id}/input`, {
      token: me.token,
      body: { text: `${SHORT_STORY}\n（完）` },
    });
    expect(again.status).toBe(200);
    const stored = await ctx.db
      .selectFrom("projects")
      .select("input_text")
      .where("id", "=", p.id)
      .executeTakeFirstOrThrow();
    expect(stored.input_text.endsWith("（完）")).toBe(true);

    const bad = await ctx.call("POST", `/api/v1/projects/${p.id}/input`, { token: me.token, body: { text: "short" } });
    expect(bad.status).toBe(400);
    const stranger = await ctx.register("stranger");
    const theirs = await ctx.call("POST", `/api/v1/projects/${p.id}/input`, {
      token: stranger.token,
      body: { text: SHORT_STORY },
    });
    expect(theirs.status).toBe(404);
  });

  test("an uploaded file gives the story too; a file that is not text is 415", async () => {
    const me = await ctx.register();
    const p = (await create(me.token, {})).json.data as Project;
    const form = new FormData();
    form.append("file", new File([SHORT_STORY], "story.txt", { type: "text/plain" }));
    const res = await ctx.app.handle(
      new Request(`http://localhost/api/v1/projects/${p.id}/input/upload`, {
        method: "POST",
        headers: { authorization: `Bearer ${me.token}` },
        body: form,
      }),
    );
    expect(res.status).toBe(200);
    expect(((await res.json()) as { data: Project }).data.has_input).toBe(true);
    const png = new FormData();
    png.append("file", new File([Buffer.from(await paintKeyframe(small))], "story.txt", { type: "text/plain" }));
    const refused = await ctx.app.handle(
      new Request(`http://localhost/api/v1/projects/${p.id}/input/upload`, {
        method: "POST",
        headers: { authorization: `Bearer ${me.token}` },
        body: png,
      }),
    );
    expect(refused.status).toBe(415);
  });
});

const small = {
  width: 160,
  height: 90,
  scene: { location: "teahouse", timeOfDay: "day" as const, mood: "calm" as const },
  characters: [{ name: "Lin" }],
};

describe("create and run in one call, then the finished project", () => {
  test("202 with the project and its run; details, status exported, the result with every URL", async () => {
    const me = await ctx.register();
    const made = await create(me.token, {
      input: { type: "novel", text: SHORT_STORY },
      description: "雨夜的茶馆",
      tags: ["悬疑", " 悬疑 ", "短剧"],
      run: { mode: "auto" },
    });
    expect(made.status).toBe(202);
    const { project, run } = made.json.data as { project: Project; run: { id: string; project_id: string } };
    expect(run.project_id).toBe(project.id);
    expect(project.tags).toEqual(["悬疑", "短剧"]);
    expect(project.description).toBe("雨夜的茶馆");

    const before = await ctx.call("GET", `/api/v1/projects/${project.id}/result`, { token: me.token });
    expect(before.status).toBe(409);

    const done = await ctx.waitForRun(me.token, run.id, ["completed", "failed"]);
    expect(done.status).toBe("completed");
    const p = (await ctx.call("GET", `/api/v1/projects/${project.id}`, { token: me.token })).json.data as Project;
    const shots = await ctx.db
      .selectFrom("package_shots")
      .select(sql<number>`sum((data->>'durationS')::float8)`.as("s"))
      .select(sql<number>`count(*)::int`.as("n"))
      .where("package_id", "=", p.active_package_id!)
      .executeTakeFirstOrThrow();
    expect(p.status).toBe("exported");
    expect(p.clip_count).toBe(shots.n);
    expect(p.duration_s).toBeCloseTo(Number(shots.s), 1);
    expect(p.export_count).toBe(1);
    expect(Date.parse(p.started_at!)).toBeLessThanOrEqual(Date.parse(p.completed_at!));
    const thumb = await fetchSigned(ctx, p.thumbnail_url!);
    expect(thumb.status).toBe(200);
    expect(imageSize(new Uint8Array(await thumb.arrayBuffer())).width).toBeGreaterThan(0);

    const exported = await ctx.call("GET", "/api/v1/projects?status=exported", { token: me.token });
    expect(exported.json.data.items.map((x: Project) => x.id)).toContain(p.id);
    const completed = await ctx.call("GET", "/api/v1/projects?status=completed", { token: me.token });
    expect(completed.json.data.items.map((x: Project) => x.id)).not.toContain(p.id);

    const result = await ctx.call("GET", `/api/v1/projects/${p.id}/result`, { token: me.token });
    expect(result.status).toBe(200);
    const r = result.json.data;
    const video = await fetchSigned(ctx, r.video_url);
    expect(video.status).toBe(200);
    expect(video.headers.get("content-type")).toContain("video/mp4");
    expect(r.duration_s).toBeGreaterThan(0);
    expect(r.scenes.length).toBeGreaterThan(0);
    for (const s of r.scenes) expect((await fetchSigned(ctx, s.image_url)).status).toBe(200);
    expect(r.scenes.flatMap((s: { audio: unknown[] }) => s.audio).length).toBeGreaterThan(0);
    expect(r.characters.length).toBeGreaterThan(0);
    for (const c of r.characters) expect((await fetchSigned(ctx, c.image_url)).status).toBe(200);

    const stranger = await ctx.register("stranger");
    expect((await ctx.call("GET", `/api/v1/projects/${p.id}/result`, { token: stranger.token })).status).toBe(404);

    // Once a run has started, a new story is a new material version, never a silent overwrite.
    const refused = await ctx.call("POST", `/api/v1/projects/${p.id}/input`, {
      token: me.token,
      body: { text: SHORT_STORY },
    });
    expect(refused.status).toBe(409);
    const versioned = await ctx.call("POST", `/api/v1/projects/${p.id}/input`, {
      token: me.token,
      body: { text: SHORT_STORY, new_version: true },
    });
    expect(versioned.status).toBe(200);
    const next = versioned.json.data as Project;
    expect(next.active_package_id).not.toBe(p.active_package_id);
    expect(next.clip_count).toBe(0);
    const versions = await ctx.db.selectFrom("packages").select("version").where("project_id", "=", p.id).execute();
    expect(versions.map((v) => v.version).sort()).toEqual([1, 2]);
  });
});

describe("description, tags and the ADMIN's list", () => {
  test("PATCH sets description and tags; an ADMIN lists a user's projects by user_id, nobody else may", async () => {
    const me = await ctx.register();
    const p = (await create(me.token, { input: { type: "novel", text: SHORT_STORY } })).json.data as Project;
    const patched = await ctx.call("PATCH", `/api/v1/projects/${p.id}`, {
      token: me.token,
      body: { description: "new", tags: ["a", "b", "a"] },
    });
    expect(patched.status).toBe(200);
    expect(patched.json.data).toMatchObject({ description: "new", tags: ["a", "b"] });
    const tooMany = await ctx.call("PATCH", `/api/v1/projects/${p.id}`, {
      token: me.token,
      body: { tags: Array.from({ length: 21 }, (_, i) => `t${i}`) },
    });
    expect(tooMany.status).toBe(400);

    const other = await ctx.register("other");
    expect((await ctx.call("GET", `/api/v1/projects?user_id=${me.user.id}`, { token: other.token })).status).toBe(403);
    const admin = await ctx.register("admin");
    await ctx.db.updateTable("users").set({ role: "ADMIN" }).where("id", "=", admin.user.id).execute();
    const listed = await ctx.call("GET", `/api/v1/projects?user_id=${me.user.id}`, { token: admin.token });
    expect(listed.status).toBe(200);
    expect(listed.json.data.items.map((x: Project) => x.id)).toEqual([p.id]);
  });
});

describe("user settings", () => {
  test("language and theme are kept on the user, returned by /auth/me, and validated", async () => {
    const me = await ctx.register();
    expect((await ctx.call("GET", "/api/v1/auth/me", { token: me.token })).json.data.settings).toEqual({
      language: null,
      theme: "system",
    });
    const set = await ctx.call("PATCH", `/api/v1/users/${me.user.id}`, {
      token: me.token,
      body: { settings: { language: "en", theme: "dark" } },
    });
    expect(set.status).toBe(200);
    expect((await ctx.call("GET", "/api/v1/auth/me", { token: me.token })).json.data.settings).toEqual({
      language: "en",
      theme: "dark",
    });
    for (const settings of [{ theme: "neon" }, { language: "fr" }, {}])
      expect(
        (await ctx.call("PATCH", `/api/v1/users/${me.user.id}`, { token: me.token, body: { settings } })).status,
      ).toBe(400);
  });
});

describe("input options and what each value changes", () => {
  test("styles with previews that differ, the new ratios, durations, languages, fonts and the registry's models", async () => {
    const me = await ctx.register();
    const res = await ctx.call("GET", "/api/v1/input/options", { token: me.token });
    expect(res.status).toBe(200);
    const o = res.json.data;
    expect(o.styles.map((s: { id: string }) => s.id).sort()).toEqual(["anime", "comic", "ink", "manga", "realistic"]);
    const previews = new Set<string>();
    for (const s of o.styles) {
      const img = await fetchSigned(ctx, s.preview_image_url);
      expect(img.status).toBe(200);
      previews.add(Buffer.from(await img.arrayBuffer()).toString("base64"));
    }
    expect(previews.size).toBe(5);
    expect(o.aspect_ratios.map((a: { ratio: string }) => a.ratio)).toEqual(expect.arrayContaining(["2.35:1", "3:4"]));
    expect(o.fonts.length).toBeGreaterThan(0);
    expect(o.models.text.some((m: { is_default: boolean }) => m.is_default)).toBe(true);
    expect((await ctx.call("GET", "/api/v1/input/options")).status).toBe(401);
  });

  test("an unknown style is refused, not ignored; every style is saved as the package's art style", async () => {
    const me = await ctx.register();
    const refused = await create(me.token, {
      input: { type: "novel", text: SHORT_STORY },
      options: { style: "watercolor" },
    });
    expect(refused.status).toBe(400);
    const ids = [];
    for (const style of ["anime", "manga", "ink", "realistic", "comic"]) {
      const made = await create(me.token, { input: { type: "novel", text: SHORT_STORY }, options: { style } });
      expect(made.status).toBe(201);
      const run = await ctx.call("POST", `/api/v1/projects/${made.json.data.id}/runs`, {
        token: me.token,
        body: { mode: "step", to_stage: "art_style" },
      });
      expect(run.status).toBe(202);
      ids.push({ style, runId: run.json.data.id as string, packageId: run.json.data.package_id as string });
    }
    for (const { style, runId, packageId } of ids) {
      await ctx.waitForRun(me.token, runId, ["paused", "completed"]);
      const pkg = await ctx.db
        .selectFrom("packages")
        .select("art_style")
        .where("id", "=", packageId)
        .executeTakeFirstOrThrow();
      expect(pkg.art_style?.name).toBe(style);
    }
  });

  test("each style's look changes the painted picture; manga is drawn in greys", async () => {
    const { STYLE_PRESETS } = await import("../src/story/styles.ts");
    const pictures = new Set<string>();
    for (const preset of Object.values(STYLE_PRESETS)) {
      const png = await paintKeyframe({ ...small, look: { palette: preset.palette, monochrome: preset.monochrome } });
      pictures.add(Buffer.from(png).toString("base64"));
    }
    expect(pictures.size).toBe(Object.keys(STYLE_PRESETS).length);
    // Decoded to raw RGB: in the manga picture every pixel has R = G = B.
    const png = await paintKeyframe({ ...small, look: { palette: STYLE_PRESETS.manga.palette, monochrome: true } });
    const raw = await rgb(png);
    let colour = 0;
    for (let i = 0; i < raw.length; i += 3) if (raw[i] !== raw[i + 1] || raw[i + 1] !== raw[i + 2]) colour++;
    expect(colour).toBe(0);
  });

  test("duration_seconds and duration_per_scene set the storyboard's lengths; shot_duration_s is the floor", () => {
    const shots = [
      { sceneId: "c1s1", durationS: 4 },
      { sceneId: "c1s1", durationS: 6 },
      { sceneId: "c1s2", durationS: 10 },
    ];
    const total = (xs: Array<{ durationS: number }>) => xs.reduce((s, x) => s + x.durationS, 0);
    expect(total(fitDurations(shots, {}))).toBe(20);
    expect(fitDurations(shots, { duration_seconds: 60 }).map((s) => s.durationS)).toEqual([12, 18, 30]);
    expect(fitDurations(shots, { duration_per_scene: 5 }).map((s) => s.durationS)).toEqual([2, 3, 5]);
    expect(fitDurations(shots, { duration_per_scene: 5, shot_duration_s: 3 }).map((s) => s.durationS)).toEqual([
      3, 3, 5,
    ]);
    expect(fitDurations(shots, { duration_seconds: 30, duration_per_scene: 5 }).map((s) => s.durationS)).toEqual([
      6, 9, 15,
    ]);
  });

  test("a run with duration_seconds makes a storyboard of that length", async () => {
    const me = await ctx.register();
    const lengths: number[] = [];
    for (const duration_seconds of [20, 45]) {
      const made = await create(me.token, {
        input: { type: "novel", text: SHORT_STORY },
        options: { duration_seconds },
        run: { mode: "step", to_stage: "storyboard" },
      });
      expect(made.status).toBe(202);
      const { run } = made.json.data;
      expect((await ctx.waitForRun(me.token, run.id, ["paused", "failed"])).status).toBe("paused");
      const row = await ctx.db
        .selectFrom("package_shots")
        .select(sql<number>`sum((data->>'durationS')::float8)`.as("s"))
        .where("package_id", "=", run.package_id)
        .executeTakeFirstOrThrow();
      lengths.push(Number(row.s));
    }
    // Each shot is rounded to a tenth and kept at a second at least: the totals land within a second.
    expect(Math.abs(lengths[0]! - 20)).toBeLessThan(1);
    expect(Math.abs(lengths[1]! - 45)).toBeLessThan(1);
  });
});

async function rgb(png: Uint8Array): Promise<Uint8Array> {
  const { mediaTools } = await import("../src/media/tools.ts");
  const p = Bun.spawn(
    [mediaTools().ffmpeg, "-v", "error", "-i", "pipe:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
    {
      stdin: png,
      stdout: "pipe",
    },
  );
  const out = new Uint8Array(await new Response(p.stdout).arrayBuffer());
  await p.exited;
  return out;
}
