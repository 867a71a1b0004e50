// Editing a finished project: only what an edit touches is made again. A narration edit
// re-speaks that one clip and re-renders its one segment; a filter re-renders one segment; the
// music volume re-renders none (only the join). Signed download links: no token, Range, 403s.
import { describe, expect, setSystemTime, test } from "bun:test";
import { signature } from "../src/storage/signing.ts";
import { completedProject, fetchSigned, pipelineContext, srtSpoken } from "./support/pipeline.ts";

const ctx = await pipelineContext();
await ctx.startWorker();

type Clip = {
  id: string;
  transition: string | null;
  stale: string[];
  config: Record<string, unknown>;
  lines: Array<{ kind: string; text: string; audio_id: string | null }>;
};
type ExportFile = { file_type: string; file_name: string; file_size: number; download_url: string; expires_at: string };

// One finished project shared by the tests below, made on first use (each test also runs alone).
let shared: Promise<{ token: string; projectId: string; exportId: string }> | null = null;
function finished() {
  shared ??= (async () => {
    const me = await ctx.register("editor");
    const { project, run } = await completedProject(ctx, me.token);
    return { token: me.token, projectId: project.id, exportId: run.export_id as string };
  })();
  return shared;
}

async function timeline(token: string, projectId: string): Promise<{ clips: Clip[]; bgm: { volume: number } }> {
  const res = await ctx.call("GET", `/api/v1/projects/${projectId}/timeline`, { token });
  expect(res.status).toBe(200);
  return res.json.data;
}

async function exportNow(token: string, projectId: string) {
  const started = await ctx.call("POST", `/api/v1/projects/${projectId}/exports`, { token, body: {} });
  expect(started.status).toBe(202);
  const ex = await ctx.waitForExport(token, started.json.data.id);
  expect(ex.error).toBeNull();
  expect(ex.status).toBe("completed");
  return ex as { id: string; segments: { rendered: number; reused: number }; files: ExportFile[] };
}

describe("edits re-render only what they touch", () => {
  test("a narration edit marks its clip stale; the export re-speaks it and re-renders exactly one segment", async () => {
    const { token, projectId } = await finished();
    const before = await timeline(token, projectId);
    const n = before.clips.length;
    expect(n).toBeGreaterThan(1);
    expect(before.clips.every((c) => c.stale.length === 0)).toBe(true);
    // The clip with the longest narration: a shorter text keeps the clip's length, so nothing else moves.
    const withNarration = before.clips.filter((c) => c.lines.some((l) => l.kind === "narration"));
    const target = withNarration.reduce((a, b) => (narration(b).text.length > narration(a).text.length ? b : a));
    const oldText = narration(target).text;
    const newText = "门开了，风很冷。";
    expect(newText.length).toBeLessThan(oldText.length);

    const edited = await ctx.call("PUT", `/api/v1/projects/${projectId}/timeline/clips/${target.id}/narration`, {
      token,
      body: { text_content: newText },
    });
    expect(edited.status).toBe(200);
    expect(narration(edited.json.data.clip).text).toBe(newText);

    const stale = await timeline(token, projectId);
    expect(stale.clips.find((c) => c.id === target.id)!.stale).toContain("voice");
    expect(stale.clips.filter((c) => c.id !== target.id).every((c) => c.stale.length === 0)).toBe(true);

    const ex = await exportNow(token, projectId);
    expect(ex.segments).toEqual({ rendered: 1, reused: n - 1 });
    const srt = ex.files.find((f) => f.file_type === "subtitle")!;
    const res = await fetchSigned(ctx, srt.download_url);
    expect(res.status).toBe(200);
    const spoken = srtSpoken(await res.text());
    expect(spoken).toContain(newText);
    expect(spoken).not.toContain(oldText);

    const after = await timeline(token, projectId);
    const clip = after.clips.find((c) => c.id === target.id)!;
    expect(clip.stale).toEqual([]);
    expect(narration(clip).text).toBe(newText);
    expect(narration(clip).audio_id).not.toBeNull();
    expect(narration(clip).audio_id).not.toBe(narration(target).audio_id);
    // The other clips kept their audio.
    for (const c of before.clips.filter((x) => x.id !== target.id)) {
      expect(after.clips.find((x) => x.id === c.id)!.lines.map((l) => l.audio_id)).toEqual(
        c.lines.map((l) => l.audio_id),
      );
    }
  });

  test("a colour filter on one clip re-renders exactly that clip's segment", async () => {
    const { token, projectId } = await finished();
    // Bring the cache up to date first (a no-op re-export when the previous test ran).
    await exportNow(token, projectId);
    const before = await timeline(token, projectId);
    const n = before.clips.length;
    // A clip the next one does not dissolve or wipe from (that next segment would be re-rendered too, rightly).
    const index = before.clips.findIndex(
      (_, i) => !["dissolve", "wipe"].includes(before.clips[i + 1]?.transition ?? "cut"),
    );
    const target = before.clips[index]!;
    const res = await ctx.call("PUT", `/api/v1/projects/${projectId}/timeline/clips/${target.id}/edit-config`, {
      token,
      body: { filter_type: "grayscale" },
    });
    expect(res.status).toBe(200);
    // The config reads back in the shape it was sent in.
    expect(res.json.data.config).toMatchObject({ filter_type: "grayscale", filter_intensity: 1, zoom_level: 1 });
    expect((await timeline(token, projectId)).clips[index]!.config).toMatchObject({ filter_type: "grayscale" });

    const ex = await exportNow(token, projectId);
    expect(ex.segments).toEqual({ rendered: 1, reused: n - 1 });
  });

  test("changing the music volume re-renders no segment, only the join", async () => {
    const { token, projectId } = await finished();
    await exportNow(token, projectId);
    const n = (await timeline(token, projectId)).clips.length;
    const bgm = await ctx.call("GET", `/api/v1/projects/${projectId}/timeline/bgm`, { token });
    expect(bgm.status).toBe(200);
    const volume = bgm.json.data.volume === 0.1 ? 0.2 : 0.1;
    const put = await ctx.call("PUT", `/api/v1/projects/${projectId}/timeline/bgm`, { token, body: { volume } });
    expect(put.status).toBe(200);
    expect(put.json.data.volume).toBe(volume);
    expect((await ctx.call("GET", `/api/v1/projects/${projectId}/timeline/bgm`, { token })).json.data.volume).toBe(
      volume,
    );

    const ex = await exportNow(token, projectId);
    expect(ex.segments).toEqual({ rendered: 0, reused: n });
    // The new video is a new file, not the old one.
    const video = ex.files.find((f) => f.file_type === "video")!;
    expect((await fetchSigned(ctx, video.download_url)).status).toBe(200);
  });
});

describe("signed download links", () => {
  test("work without a token, honour Range, and refuse tampered or expired links with 403", async () => {
    const { token, exportId } = await finished();
    const ex = (await ctx.call("GET", `/api/v1/exports/${exportId}`, { token })).json.data as { files: ExportFile[] };
    const video = ex.files.find((f) => f.file_type === "video")!;
    expect(new Date(video.expires_at).getTime()).toBeGreaterThan(Date.now());

    const whole = await fetchSigned(ctx, video.download_url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get("content-type")).toBe("video/mp4");
    expect(whole.headers.get("accept-ranges")).toBe("bytes");
    expect(whole.headers.get("content-disposition")).toContain("video.mp4");
    const bytes = new Uint8Array(await whole.arrayBuffer());
    expect(bytes.length).toBe(video.file_size);

    const part = await fetchSigned(ctx, video.download_url, { headers: { range: "bytes=100-1099" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 100-1099/${video.file_size}`);
    expect(part.headers.get("content-length")).toBe("1000");
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(bytes.slice(100, 1100));

    const tail = await fetchSigned(ctx, video.download_url, { headers: { range: "bytes=-10" } });
    expect(tail.status).toBe(206);
    expect(tail.headers.get("content-range")).toBe(
      `bytes ${video.file_size - 10}-${video.file_size - 1}/${video.file_size}`,
    );
    expect(new Uint8Array(await tail.arrayBuffer())).toEqual(bytes.slice(-10));

    const beyond = await fetchSigned(ctx, video.download_url, { headers: { range: `bytes=${video.file_size}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get("content-range")).toBe(`bytes */${video.file_size}`);

    const url = new URL(video.download_url);
    const sig = url.searchParams.get("sig")!;
    const forbidden = async (u: URL | string) => {
      const res = await fetchSigned(ctx, String(u));
      expect(res.status).toBe(403);
      expect((await res.json()).error.code).toBe("FORBIDDEN");
    };
    // A changed signature, expiry, download name or file: all 403.
    const flipped = new URL(url);
    flipped.searchParams.set("sig", (sig[0] === "A" ? "B" : "A") + sig.slice(1));
    await forbidden(flipped);
    const later = new URL(url);
    later.searchParams.set("expires", String(Number(url.searchParams.get("expires")) + 3600));
    await forbidden(later);
    const renamed = new URL(url);
    renamed.searchParams.set("download", "other.mp4");
    await forbidden(renamed);
    const otherFile = new URL(url);
    otherFile.pathname = url.pathname.replace(/video\.mp4$/, "cover.jpg");
    await forbidden(otherFile);
    const unsigned = new URL(url);
    unsigned.searchParams.delete("sig");
    await forbidden(unsigned);

    // Expired: correctly signed with an expiry in the past.
    const key = decodeURIComponent(url.pathname.replace(/^\/files\//, ""));
    const past = Math.floor(Date.now() / 1000) - 5;
    const expired = new URL(url);
    expired.searchParams.set("expires", String(past));
    expired.searchParams.set("sig", signature(ctx.deps.fileLinkSecret!, key, past, "video.mp4"));
    await forbidden(expired);

    // A two-second link from the storage itself works, then expires.
    const short = await ctx.deps.storage.signedUrl(key, 2);
    expect((await fetchSigned(ctx, short.url)).status).toBe(200);
    // Past its expiry (whole seconds) on the app's clock, moved instead of waited for.
    setSystemTime(new Date(short.expiresAt.getTime() + 1100));
    try {
      await forbidden(short.url);
    } finally {
      setSystemTime();
    }
  });
});

function narration(c: Pick<Clip, "lines">) {
  return c.lines.find((l) => l.kind === "narration")!;
}
