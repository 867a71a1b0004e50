// The timeline's sound and settings (seed 003 §4): per-clip transitions, a clip's lines with their
// audio, narration from the creator's own recording, background music uploaded, generated as
// candidates and chosen, and the timeline's frame rate, each through the public API and into the
// exported video.
import { describe, expect, test } from "bun:test";
import { probe } from "../src/media/ffmpeg.ts";
import { ffmpegCapture } from "./support/media.ts";
import { completedProject, fetchSigned, pipelineContext, srtSpoken, waitUntil } from "./support/pipeline.ts";

const ctx = await pipelineContext();
await ctx.startWorker();

let shared: Promise<{ token: string; projectId: string }> | null = null;
function finished() {
  shared ??= (async () => {
    const me = await ctx.register("sound");
    const { project } = await completedProject(ctx, me.token);
    return { token: me.token, projectId: project.id };
  })();
  return shared;
}

/** A tone of `seconds`, encoded by ffmpeg as `format` (wav, mp3). */
async function tone(seconds: number, format: "wav" | "mp3" = "wav"): Promise<Uint8Array<ArrayBuffer>> {
  const { stdout } = await ffmpegCapture([
    "-f",
    "lavfi",
    "-i",
    `sine=frequency=330:duration=${seconds}`,
    "-ac",
    "1",
    "-f",
    format,
    "pipe:1",
  ]);
  return new Uint8Array(stdout);
}

function form(fields: Record<string, string | Blob>, fileName = "take.wav") {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v === "string") f.append(k, v);
    else f.append(k, v, fileName);
  }
  return f;
}

const timeline = async (token: string, projectId: string) =>
  (await ctx.call("GET", `/api/v1/projects/${projectId}/timeline`, { token })).json.data;

async function exportNow(token: string, projectId: string) {
  const started = await ctx.call("POST", `/api/v1/projects/${projectId}/exports`, { token, body: {} });
  expect(started.status).toBe(202);
  const ex = await ctx.waitForExport(token, started.json.data.id);
  expect(ex.error).toBeNull();
  return ex as {
    segments: { rendered: number; reused: number };
    files: Array<{ file_type: string; download_url: string }>;
  };
}

async function downloaded(url: string, into: string): Promise<string> {
  const res = await fetchSigned(ctx, url);
  expect(res.status).toBe(200);
  await Bun.write(into, await res.arrayBuffer());
  return into;
}

describe("timeline sound and settings", () => {
  test("a clip's transition and its length are edited and re-render the segments it joins", async () => {
    const { token, projectId } = await finished();
    const before = await timeline(token, projectId);
    const n = before.clips.length;
    // The last clip: nothing comes after it to dissolve from it.
    const target = before.clips[n - 1];
    const url = `/api/v1/projects/${projectId}/timeline/clips/${target.id}/transition`;
    const next = target.transition === "fade" ? "cut" : "fade";
    const res = await ctx.call("PUT", url, { token, body: { transition: next, duration: 0.8 } });
    expect(res.status).toBe(200);
    expect(res.json.data).toMatchObject({ transition: next, transition_duration: 0.8 });
    expect((await timeline(token, projectId)).clips[n - 1]).toMatchObject({
      transition: next,
      transition_duration: 0.8,
    });
    for (const body of [
      { transition: "spin" },
      { transition: "fade", duration: 3.5 },
      { transition: "fade", duration: 0 },
    ])
      expect((await ctx.call("PUT", url, { token, body })).status).toBe(400);
    const ex = await exportNow(token, projectId);
    // A fade into a clip is the clip before fading out and this one fading in: those two segments.
    expect(ex.segments).toEqual({ rendered: 2, reused: n - 2 });
  });

  test("a clip's audio: narration and dialogue with links and status; an edit makes it pending", async () => {
    const { token, projectId } = await finished();
    const clips = (await timeline(token, projectId)).clips;
    const clip = clips.find((c: { lines: Array<{ kind: string }> }) => c.lines.some((l) => l.kind === "narration"));
    const url = `/api/v1/projects/${projectId}/timeline/clips/${clip.id}/audio`;
    const res = await ctx.call("GET", url, { token });
    expect(res.status).toBe(200);
    const { narration, dialogue } = res.json.data;
    expect(narration).toMatchObject({ kind: "narration", generation_status: "completed", is_custom_audio: false });
    expect(narration.duration_s).toBeGreaterThan(0);
    const sound = await fetchSigned(ctx, narration.audio_url);
    expect(sound.status).toBe(200);
    expect(sound.headers.get("content-type")).toStartWith("audio/");
    expect(dialogue.length).toBe(clip.lines.filter((l: { kind: string }) => l.kind === "dialogue").length);

    const edited = await ctx.call("PUT", `/api/v1/projects/${projectId}/timeline/clips/${clip.id}/narration`, {
      token,
      body: { text_content: "夜深了，灯还亮着。" },
    });
    expect(edited.status).toBe(200);
    const after = (await ctx.call("GET", url, { token })).json.data.narration;
    expect(after).toMatchObject({ text_content: "夜深了，灯还亮着。", generation_status: "pending", audio_url: null });
    expect((await ctx.call("GET", url.replace(clip.id, "no-such-clip"), { token })).status).toBe(404);
  });

  test("narration from the creator's recording: kept, subtitled with its transcript, refused when not audio or too big", async () => {
    const { token, projectId } = await finished();
    const clip = (await timeline(token, projectId)).clips[0];
    const url = `/api/v1/projects/${projectId}/timeline/clips/${clip.id}/narration/upload`;
    const transcript = "这是我自己录的旁白。";
    const res = await ctx.call("POST", url, {
      token,
      raw: form({ file: new Blob([await tone(2.5)]), transcript }),
    });
    expect(res.status).toBe(200);
    const line = res.json.data.lines.find((l: { kind: string }) => l.kind === "narration");
    expect(line).toMatchObject({ text: transcript, is_custom_audio: true });
    expect(line.duration_s).toBeCloseTo(2.5, 1);
    expect(res.json.data.duration).toBeGreaterThanOrEqual(2.5);

    // Speaking the clip again keeps the recording.
    const queued = await ctx.call("POST", `/api/v1/projects/${projectId}/timeline/clips/${clip.id}/regenerate-voice`, {
      token,
    });
    expect(queued.status).toBe(202);
    await waitUntil("the voice task", async () => {
      const t = (await ctx.call("GET", `/api/v1/tasks/${queued.json.data.task_ids[0]}`, { token })).json.data;
      return t.status === "completed" ? t : null;
    });
    const audio = (await ctx.call("GET", url.replace("narration/upload", "audio"), { token })).json.data;
    expect(audio.narration).toMatchObject({
      is_custom_audio: true,
      text_content: transcript,
      generation_status: "completed",
    });
    expect(
      (await timeline(token, projectId)).clips[0].lines.find((l: { kind: string }) => l.kind === "narration").audio_id,
    ).toBe(line.audio_id);

    const ex = await exportNow(token, projectId);
    const srt = ex.files.find((f) => f.file_type === "subtitle")!;
    expect(srtSpoken(await (await fetchSigned(ctx, srt.download_url)).text())).toContain(transcript);

    const snapshot = JSON.stringify((await timeline(token, projectId)).clips);
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Uint8Array(64)]);
    const notAudio = await ctx.call("POST", url, { token, raw: form({ file: new Blob([png]) }) });
    expect(notAudio.status).toBe(415);
    expect(notAudio.json.error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    const big = new Uint8Array(new ArrayBuffer(10 * 1024 * 1024 + 1));
    big.set(await tone(0.5));
    const tooBig = await ctx.call("POST", url, { token, raw: form({ file: new Blob([big]) }) });
    expect(tooBig.status).toBe(413);
    expect(tooBig.json.error.code).toBe("PAYLOAD_TOO_LARGE");
    const missing = await ctx.call("POST", url, { token, raw: form({ transcript: "no file" }) });
    expect(missing.status).toBe(400);
    expect(JSON.stringify((await timeline(token, projectId)).clips)).toBe(snapshot);
  });

  test("background music: an uploaded track, generated candidates, and choosing between them", async () => {
    const { token, projectId } = await finished();
    const base = `/api/v1/projects/${projectId}/timeline/bgm`;
    const original = (await ctx.call("GET", base, { token })).json.data.track;
    expect(original.url).toBeTruthy();

    const uploaded = await ctx.call("POST", `${base}/upload`, {
      token,
      raw: form({ file: new Blob([await tone(12, "mp3")]) }, "theme.mp3"),
    });
    expect(uploaded.status).toBe(200);
    expect(uploaded.json.data.track.mime_type).toBe("audio/mpeg");
    expect(uploaded.json.data.candidates.map((c: { asset_id: string }) => c.asset_id)).toContain(original.asset_id);

    const queued = await ctx.call("POST", `${base}/candidates`, { token, body: { mood: "tense", count: 2 } });
    expect(queued.status).toBe(202);
    const task = await waitUntil("the bgm task", async () => {
      const t = (await ctx.call("GET", `/api/v1/tasks/${queued.json.data.task_ids[0]}`, { token })).json.data;
      return ["completed", "failed"].includes(t.status) ? t : null;
    });
    expect(task).toMatchObject({ kind: "bgm", status: "completed", params: { mood: "tense" } });
    expect(task.result.assets).toHaveLength(2);
    const bgm = (await ctx.call("GET", base, { token })).json.data;
    const ids = bgm.candidates.map((c: { asset_id: string }) => c.asset_id);
    for (const a of task.result.assets) expect(ids).toContain(a.asset_id);
    // The upload stays in use until another is chosen.
    expect(bgm.track.asset_id).toBe(uploaded.json.data.track.asset_id);

    const chosen = task.result.assets[1].asset_id;
    const picked = await ctx.call("POST", `${base}/select`, { token, body: { asset_id: chosen } });
    expect(picked.status).toBe(200);
    expect(picked.json.data.track.asset_id).toBe(chosen);
    expect(picked.json.data.candidates.map((c: { asset_id: string }) => c.asset_id)).toContain(
      uploaded.json.data.track.asset_id,
    );
    const unknown = await ctx.call("POST", `${base}/select`, { token, body: { asset_id: crypto.randomUUID() } });
    expect(unknown.status).toBe(404);
    const notAudio = await ctx.call("POST", `${base}/upload`, {
      token,
      raw: form({ file: new Blob([new TextEncoder().encode("not music at all")]) }, "song.mp3"),
    });
    expect(notAudio.status).toBe(415);
  });

  test("the timeline's frame rate is kept and the next export renders at it", async () => {
    const { token, projectId } = await finished();
    const url = `/api/v1/projects/${projectId}/timeline/settings`;
    expect((await ctx.call("PUT", url, { token, body: { fps: 23 } })).status).toBe(400);
    const res = await ctx.call("PUT", url, { token, body: { fps: 30 } });
    expect(res.status).toBe(200);
    expect(res.json.data.fps).toBe(30);
    expect((await timeline(token, projectId)).fps).toBe(30);

    const ex = await exportNow(token, projectId);
    const video = ex.files.find((f) => f.file_type === "video")!;
    const path = await downloaded(video.download_url, `${ctx.config.dataDir}/fps-check.mp4`);
    const stream = (await probe(path)).streams.find((s) => s.codec_type === "video")!;
    expect(stream.r_frame_rate).toBe("30/1");
  });
});
