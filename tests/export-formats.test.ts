// Export settings of seed 003 §5 (task name, frame size or aspect ratio, subtitle font and box,
// cover type, the soundtrack as M4A, download counts) and the editor formats: a CapCut / JianYing
// draft that capcut-cli reads back, an MLT project that Debian's melt renders to our length.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { lintDraft, loadDraft } from "capcut-cli";
import { unzipSync } from "fflate";
import { probe } from "../src/media/ffmpeg.ts";
import { countFrames, ffmpegCapture, videoInfo } from "./support/media.ts";
import { completedProject, fetchSigned, pipelineContext } from "./support/pipeline.ts";

const ctx = await pipelineContext();
await ctx.startWorker();

type ExportFile = {
  id: string;
  file_type: string;
  file_name: string;
  mime_type: string;
  file_size: number;
  duration_s: number | null;
  download_count: number;
  download_url: string;
};
type Export = {
  id: string;
  status: string;
  task_name: string | null;
  error: unknown;
  files: ExportFile[];
  options: Record<string, unknown>;
};

// One finished project shared by the tests below, made on first use (each test also runs alone).
let shared: Promise<{ token: string; projectId: string; exportId: string }> | null = null;
function finished() {
  shared ??= (async () => {
    const me = await ctx.register("exporter");
    const { project, run } = await completedProject(ctx, me.token);
    return { token: me.token, projectId: project.id, exportId: run.export_id as string };
  })();
  return shared;
}

async function exportWith(token: string, projectId: string, body: Record<string, unknown>): Promise<Export> {
  const started = await ctx.call("POST", `/api/v1/projects/${projectId}/exports`, { token, body });
  expect(started.status).toBe(202);
  const ex = (await ctx.waitForExport(token, started.json.data.id)) as Export;
  expect(ex.error).toBeNull();
  expect(ex.status).toBe("completed");
  return ex;
}

const work = mkdtempSync(join(tmpdir(), "inkreel-export-formats-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

/** Downloads a file of an export through its signed link into the test's directory. */
async function download(file: ExportFile, name = file.file_name): Promise<string> {
  const res = await fetchSigned(ctx, file.download_url);
  expect(res.status).toBe(200);
  const path = join(work, `${crypto.randomUUID()}-${name}`);
  await Bun.write(path, await res.arrayBuffer());
  return path;
}

/** Unpacks a ZIP into a fresh directory; returns it and the entry names. */
async function unzip(path: string): Promise<{ dir: string; names: string[] }> {
  const dir = join(work, crypto.randomUUID());
  const files = unzipSync(new Uint8Array(await Bun.file(path).arrayBuffer()));
  for (const [name, bytes] of Object.entries(files)) {
    if (name.endsWith("/")) continue;
    await mkdir(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), bytes);
  }
  return { dir, names: Object.keys(files) };
}

/** The timeline's clips and their lengths, as the API reports them. */
async function timelineClips(token: string, projectId: string) {
  const res = await ctx.call("GET", `/api/v1/projects/${projectId}/timeline`, { token });
  expect(res.status).toBe(200);
  return res.json.data as { clips: Array<{ id: string; duration: number }> };
}

describe("export settings", () => {
  test("bad settings are 400 in the envelope and start nothing", async () => {
    const { token, projectId } = await finished();
    const before = await ctx.call("GET", `/api/v1/projects/${projectId}/exports`, { token });
    const bad: Array<Record<string, unknown>> = [
      { width: 3, height: 360 },
      { width: 100_000, height: 360 },
      { width: 641, height: 360 },
      { width: 640 },
      { width: 640, height: 360, aspect_ratio: "9:16" },
      { aspect_ratio: "5:4" },
      { format: "AVI" },
      { task_name: "" },
      { task_name: "x".repeat(101) },
      { subtitle: { enabled: true, font_name: "Comic Sans" } },
      { subtitle: { enabled: true, background_color: "black" } },
      { subtitle: { enabled: true, background_opacity: 1.5 } },
      { cover: { enabled: true, cover_type: "from_clip" } },
      { cover: { enabled: true, cover_type: "from_clip", source_clip_id: "no-such-shot" } },
      { cover: { enabled: true, cover_type: "custom", custom_image_asset_id: crypto.randomUUID() } },
      { cover: { enabled: true, cover_type: "custom", custom_image_asset_id: "not-a-uuid" } },
      { cover: { enabled: true, cover_type: "poster" } },
    ];
    for (const body of bad) {
      const res = await ctx.call("POST", `/api/v1/projects/${projectId}/exports`, { token, body });
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(res.json.success).toBe(false);
      expect(res.json.error.code).toBe("VALIDATION_ERROR");
    }
    const after = await ctx.call("GET", `/api/v1/projects/${projectId}/exports`, { token });
    expect(after.json.data.total).toBe(before.json.data.total);
  });

  test("frame size, font and box, a title card cover and the soundtrack as M4A, with its task name", async () => {
    const { token, projectId } = await finished();
    const ex = await exportWith(token, projectId, {
      task_name: "竖屏 预览",
      width: 360,
      height: 640,
      audio: true,
      subtitle: {
        enabled: true,
        burn_in: true,
        font_name: "Noto Sans SC Bold",
        background_color: "#202080",
        background_opacity: 0.8,
        format: "ASS",
      },
      cover: { enabled: true, cover_type: "title", title_text: "雨夜" },
    });
    expect(ex.task_name).toBe("竖屏 预览");
    const types = ex.files.map((f) => f.file_type).sort();
    expect(types).toEqual(["audio", "cover", "subtitle", "video"]);

    const video = await download(ex.files.find((f) => f.file_type === "video")!);
    const info = await videoInfo(video);
    expect([info.width, info.height]).toEqual([360, 640]);

    const audioFile = ex.files.find((f) => f.file_type === "audio")!;
    expect(audioFile.mime_type).toBe("audio/mp4");
    expect(audioFile.file_name).toMatch(/\.m4a$/);
    const audio = await probe(await download(audioFile));
    expect(audio.streams.map((s) => s.codec_type)).toEqual(["audio"]);
    expect(Math.abs(audio.durationS - info.durationS)).toBeLessThan(0.1);

    // The ASS file asked for is the only subtitle file, in the chosen font with the chosen box.
    const ass = await (await fetchSigned(ctx, ex.files.find((f) => f.file_type === "subtitle")!.download_url)).text();
    const style = ass.split("\n").find((l) => l.startsWith("Style: Default,"))!;
    expect(style).toContain("Noto Sans SC Bold");
    // OutlineColour &HAABBGGRR: opacity 0.8 → alpha 0x33, #202080 → 80 20 20.
    expect(style).toContain("&H33802020");

    // A title card: a plain dark picture (no shot behind it) at the frame's size.
    const cover = await download(ex.files.find((f) => f.file_type === "cover")!);
    const { stdout } = await ffmpegCapture(["-i", cover, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]);
    expect(stdout.length).toBe(360 * 640 * 3);
    for (const [x, y] of [
      [5, 5],
      [354, 5],
      [5, 634],
      [354, 634],
    ] as const) {
      const i = (y * 360 + x) * 3;
      const [r, g, b] = [stdout[i]!, stdout[i + 1]!, stdout[i + 2]!];
      expect(Math.max(Math.abs(r - 0x16), Math.abs(g - 0x16), Math.abs(b - 0x1d))).toBeLessThan(8);
    }
  });

  test("a cover from a chosen clip, and one from an image of the project", async () => {
    const { token, projectId } = await finished();
    const { clips } = await timelineClips(token, projectId);
    const last = clips.at(-1)!;
    const fromClip = await exportWith(token, projectId, {
      aspect_ratio: "1:1",
      subtitle: { enabled: false },
      cover: { enabled: true, cover_type: "from_clip", source_clip_id: last.id },
    });
    const v = await videoInfo(await download(fromClip.files.find((f) => f.file_type === "video")!));
    expect(v.width).toBe(v.height);
    expect(fromClip.files.some((f) => f.file_type === "subtitle")).toBe(false);
    const coverA = await download(fromClip.files.find((f) => f.file_type === "cover")!);

    // The cover of the first export (a JPEG asset of the project) as the custom image.
    const firstCover = fromClip.files.find((f) => f.file_type === "cover")!;
    const custom = await exportWith(token, projectId, {
      aspect_ratio: "1:1",
      subtitle: { enabled: false },
      cover: { enabled: true, cover_type: "custom", custom_image_asset_id: firstCover.id },
    });
    const coverB = await download(custom.files.find((f) => f.file_type === "cover")!);
    // No title is drawn over a custom picture unless asked: the same picture comes back.
    const gray = async (p: string) =>
      (await ffmpegCapture(["-i", p, "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1"])).stdout;
    const [a, b] = [await gray(coverA), await gray(coverB)];
    expect(a.length).toBe(b.length);
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff += Math.abs(a[i]! - b[i]!);
    expect(diff / a.length).toBeLessThan(4);
  });

  test("download links are counted; the files list shows the counts; others get 404", async () => {
    const { token, exportId } = await finished();
    const files = await ctx.call("GET", `/api/v1/exports/${exportId}/files`, { token });
    expect(files.status).toBe(200);
    const video = (files.json.data as ExportFile[]).find((f) => f.file_type === "video")!;
    const base = video.download_count;
    const links = await Promise.all(
      [1, 2, 3].map(() => ctx.call("GET", `/api/v1/exports/${exportId}/files/${video.id}/download-url`, { token })),
    );
    expect(links.map((l) => l.status)).toEqual([200, 200, 200]);
    expect(links.map((l) => l.json.data.download_count).sort()).toEqual([base + 1, base + 2, base + 3]);
    const res = await fetchSigned(ctx, links[0]!.json.data.download_url);
    expect(res.status).toBe(200);
    expect(Number(res.headers.get("content-length"))).toBe(video.file_size);
    const again = await ctx.call("GET", `/api/v1/exports/${exportId}/files`, { token });
    expect((again.json.data as ExportFile[]).find((f) => f.id === video.id)!.download_count).toBe(base + 3);

    const other = await ctx.register("stranger");
    for (const path of [
      `/api/v1/exports/${exportId}/files`,
      `/api/v1/exports/${exportId}/files/${video.id}/download-url`,
    ]) {
      const r = await ctx.call("GET", path, { token: other.token });
      expect(r.status).toBe(404);
      expect(r.json.error.code).toBe("NOT_FOUND");
    }
    const missing = await ctx.call("GET", `/api/v1/exports/${exportId}/files/${crypto.randomUUID()}/download-url`, {
      token,
    });
    expect(missing.status).toBe(404);
    const counted = await ctx.call("GET", `/api/v1/exports/${exportId}/files`, { token });
    expect((counted.json.data as ExportFile[]).find((f) => f.id === video.id)!.download_count).toBe(base + 3);
  });

  test("export.completed in the event log carries the files", async () => {
    const { token, projectId } = await finished();
    const ex = await exportWith(token, projectId, { subtitle: { enabled: false }, cover: { enabled: false } });
    const { rows } = await ctx.db
      .selectFrom("project_events")
      .select(["event", "data"])
      .where("project_id", "=", projectId)
      .where("event", "=", "completed")
      .where(({ ref, eb }) => eb(ref("data", "->>").key("export_id"), "=", ex.id))
      .execute()
      .then((r) => ({ rows: r }));
    expect(rows).toHaveLength(1);
    const files = rows[0]!.data.files!;
    expect(files.map((f) => f.asset_id).sort()).toEqual(ex.files.map((f) => f.id).sort());
    expect(files.map((f) => f.file_type)).toEqual(["video"]);
  });
});

describe("editor exports", () => {
  test("capcut_draft: a draft folder capcut-cli reads back with our clips and lengths", async () => {
    const { token, projectId } = await finished();
    const { clips } = await timelineClips(token, projectId);
    const ex = await exportWith(token, projectId, { format: "capcut_draft", task_name: "draft/one", fps: 30 });
    expect(ex.files.map((f) => f.file_type)).toEqual(["project"]);
    const zipFile = ex.files[0]!;
    expect(zipFile.mime_type).toBe("application/zip");
    expect(zipFile.file_name).toBe("draft_one-capcut.zip");
    const { dir, names } = await unzip(await download(zipFile));
    const folder = join(dir, "draft_one-capcut");
    expect(names).toContain("draft_one-capcut/draft_content.json");
    expect(names).toContain("draft_one-capcut/draft_meta_info.json");

    const { draft } = loadDraft(folder);
    expect(draft.fps).toBe(30);
    const video = draft.tracks.filter((t) => t.type === "video");
    expect(video).toHaveLength(1);
    const segs = video[0]!.segments;
    expect(segs).toHaveLength(clips.length);
    // Each clip lasts its length rounded to whole frames of the export, back to back.
    let at = 0;
    segs.forEach((s, i) => {
      const frames = Math.max(1, Math.round(clips[i]!.duration * 30));
      expect(s.target_timerange.start).toBe(Math.round((at * 1e6) / 30));
      expect(s.target_timerange.duration).toBe(Math.round((frames * 1e6) / 30));
      at += frames;
    });
    expect(draft.duration).toBe(Math.round((at * 1e6) / 30));
    expect(Math.abs(draft.duration / 1e6 - zipFile.duration_s!)).toBeLessThan(1 / 30);

    // Every medium it names is inside the folder; speech and subtitles are on their tracks.
    for (const m of [...draft.materials.videos, ...draft.materials.audios]) {
      expect(await Bun.file(join(folder, m.path)).exists()).toBe(true);
    }
    expect(draft.tracks.some((t) => t.type === "audio" && t.segments.length > 0)).toBe(true);
    const texts = draft.tracks.find((t) => t.type === "text")!;
    expect(texts.segments.length).toBeGreaterThan(0);
    expect(draft.materials.texts.map((m) => JSON.parse(m.content as string).text).join("")).toMatch(/\p{Script=Han}/u);
    // The draft's media paths are relative to its folder (a ZIP cannot know where it is unpacked):
    // capcut-cli resolves them from the working directory.
    const cwd = process.cwd();
    process.chdir(folder);
    let issues: ReturnType<typeof lintDraft>;
    try {
      issues = lintDraft(draft);
    } finally {
      process.chdir(cwd);
    }
    const errors = issues.filter((i) => i.severity === "error");
    expect(errors).toEqual([]);
  });

  test("mlt: a project Debian's melt renders to our length within one frame", async () => {
    const { token, projectId } = await finished();
    const ex = await exportWith(token, projectId, { format: "mlt", fps: 25 });
    const zipFile = ex.files[0]!;
    expect(zipFile.file_type).toBe("project");
    const { dir, names } = await unzip(await download(zipFile));
    const mlt = names.find((n) => n.endsWith("/project.mlt"))!;
    expect(mlt).toBeDefined();
    expect(names.some((n) => n.endsWith("/subtitles.srt"))).toBe(true);
    const out = join(dir, "melt.mp4");
    const melt = Bun.spawn(
      [
        "melt",
        "-quiet",
        join(dir, mlt),
        "-consumer",
        `avformat:${out}`,
        "vcodec=libx264",
        "preset=ultrafast",
        "acodec=aac",
      ],
      { cwd: dirname(join(dir, mlt)), stdout: "pipe", stderr: "pipe", env: { ...process.env, DISPLAY: "" } },
    );
    const [stderr, code] = await Promise.all([new Response(melt.stderr).text(), melt.exited]);
    expect({ code, stderr: code === 0 ? "" : stderr.slice(-2000) }).toEqual({ code: 0, stderr: "" });
    const rendered = await probe(out);
    expect(rendered.streams.map((s) => s.codec_type).sort()).toEqual(["audio", "video"]);
    const frames = await countFrames(out);
    const ours = Math.round(zipFile.duration_s! * 25);
    expect(Math.abs(frames - ours)).toBeLessThanOrEqual(1);
  });
});
