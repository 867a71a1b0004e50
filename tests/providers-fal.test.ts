// The fal provider through the real @fal-ai/client, pointed at a local server that speaks fal's
// queue, storage and CDN wire format (tests/support/fake-fal.ts) by the client's requestMiddleware.
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { probe, withTempDir } from "../src/media/ffmpeg.ts";
import {
  createFalImage,
  createFalVideo,
  FalProviderError,
  type FalRequestRef,
  memoryRequestStore,
} from "../src/providers/fal/index.ts";
import { paintKeyframe, paintReferenceSheet } from "../src/providers/local/painter.ts";
import { startFakeFal } from "./support/fake-fal.ts";
import { rejection } from "./support/rejection.ts";

const fake = await startFakeFal();
afterAll(() => fake.stop());
beforeEach(() => fake.reset());

const connection = () => ({
  key: fake.key,
  requestMiddleware: fake.middleware,
  pollIntervalMs: 5,
  retry: { retries: 2, baseDelayMs: 5, maxDelayMs: 2000 },
});
const isPng = (b: Uint8Array) => [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((x, i) => b[i] === x);
const keyframe = await paintKeyframe({
  width: 640,
  height: 360,
  scene: { location: "tea house", timeOfDay: "night", mood: "tense" },
  characters: [{ name: "林" }],
});
const portrait = await paintKeyframe({
  width: 360,
  height: 640,
  scene: { location: "street", timeOfDay: "day", mood: "calm" },
  characters: [],
});

const probeBytes = (bytes: Uint8Array) =>
  withTempDir(async (dir) => {
    const path = join(dir, "clip.mp4");
    await Bun.write(path, bytes);
    return probe(path);
  });

describe("images", () => {
  test("text-to-image: one submission with the mapped input, polled until COMPLETED, a PNG downloaded", async () => {
    const model = createFalImage(connection());
    expect(model.provider).toBe("fal");
    expect(model.modelId).toBe("fal-ai/flux/dev");
    const r = await model.generate({ prompt: "a tea house in the rain", width: 1280, height: 720, seed: 7 });

    expect(fake.submissions).toHaveLength(1);
    const [s] = fake.submissions;
    expect(s!.endpoint).toBe("fal-ai/flux/dev");
    expect(s!.input).toEqual({
      prompt: "a tea house in the rain",
      image_size: "landscape_16_9",
      num_images: 1,
      output_format: "png",
      enable_safety_checker: true,
      seed: 7,
    });
    expect(s!.headers.authorization).toBe(`Key ${fake.key}`);
    // IN_QUEUE, IN_PROGRESS, COMPLETED: three polls of the same request, then one result.
    expect(fake.calls("status", s!.requestId).map((c) => c.status)).toEqual([200, 200, 200]);
    expect(fake.calls("result", s!.requestId)).toHaveLength(1);

    expect(isPng(r.data.bytes)).toBe(true);
    expect(r.data).toMatchObject({ mimeType: "image/png", width: 1024, height: 576 });
    expect(r.usage).toEqual({ images: 1 });
    expect(r.response).toMatchObject({ provider: "fal", modelId: "fal-ai/flux/dev", id: s!.requestId });
    // The result came from the CDN without credentials.
    const [file] = fake.calls("file");
    expect(file?.headers.authorization).toBeUndefined();
  });

  test("image_size: presets for 9:16 and 1:1, {width, height} otherwise", async () => {
    const model = createFalImage(connection());
    await model.generate({ prompt: "p", width: 720, height: 1280 });
    await model.generate({ prompt: "p", width: 720, height: 720 });
    await model.generate({ prompt: "p", width: 800, height: 600 });
    await model.generate({ prompt: "p", width: 1000, height: 500 });
    expect(fake.submissions.map((s) => s.input.image_size)).toEqual([
      "portrait_16_9",
      "square_hd",
      "landscape_4_3",
      { width: 1000, height: 500 },
    ]);
  });

  test("a reference is uploaded to fal storage and Kontext gets its URL as image_url", async () => {
    const sheet = await paintReferenceSheet({ name: "林" }, { width: 256, height: 256 });
    const model = createFalImage(connection());
    const r = await model.generate({
      prompt: "Lin pours tea",
      width: 1280,
      height: 720,
      references: [{ bytes: sheet, mimeType: "image/png", label: "林" }],
    });

    const [init] = fake.calls("initiate");
    expect(init?.search).toBe("?storage_type=fal-cdn-v3");
    expect(init?.headers.authorization).toBe(`Key ${fake.key}`);
    expect(init?.body).toEqual({ content_type: "image/png", file_name: "reference-1.png" });
    const [put] = fake.calls("upload");
    expect(put?.headers.authorization).toBeUndefined();
    expect(put?.headers["content-type"]).toBe("image/png");
    const upload = [...fake.uploads.values()][0]!;
    expect(Buffer.from(upload.bytes!).equals(Buffer.from(sheet))).toBe(true);

    expect(fake.submissions).toHaveLength(1);
    const [s] = fake.submissions;
    expect(s!.endpoint).toBe("fal-ai/flux-pro/kontext");
    expect(s!.input.image_url).toBe(upload.fileUrl);
    expect(s!.input).toMatchObject({ aspect_ratio: "16:9", num_images: 1, output_format: "png" });
    expect(s!.input.prompt).toContain("Lin pours tea");
    expect(s!.input.prompt).toContain("林");
    expect(r.response.modelId).toBe("fal-ai/flux-pro/kontext");
    expect(isPng(r.data.bytes)).toBe(true);
    expect(r.data).toMatchObject({ width: 1024, height: 576 });
  });

  test("two references go to Kontext multi as image_urls", async () => {
    const a = await paintReferenceSheet({ name: "甲" }, { width: 128, height: 128 });
    const b = await paintReferenceSheet({ name: "乙" }, { width: 128, height: 128 });
    const model = createFalImage(connection());
    const r = await model.generate({
      prompt: "two friends",
      width: 720,
      height: 1280,
      references: [
        { bytes: a, mimeType: "image/png" },
        { bytes: b, mimeType: "image/png" },
      ],
    });
    const [s] = fake.submissions;
    expect(s!.endpoint).toBe("fal-ai/flux-pro/kontext/multi");
    expect(s!.input.image_urls).toEqual([...fake.uploads.values()].map((u) => u.fileUrl));
    expect(s!.input.aspect_ratio).toBe("9:16");
    expect(r.warnings).toEqual([]);
  });

  test("unknown models and a missing key are refused when the model is made", () => {
    expect(() => createFalImage({ ...connection(), model: "fal-ai/nope" })).toThrow(/not a known text-to-image model/);
    expect(() => createFalImage({ ...connection(), referenceModel: "fal-ai/flux/dev" })).toThrow(/reference/);
    expect(() => createFalImage({ ...connection(), key: "" })).toThrow(/API key/);
    expect(() => createFalVideo({ ...connection(), model: "fal-ai/nope" })).toThrow(/not known/);
  });
});

describe("videos", () => {
  test('Kling: 7 s becomes the allowed "10" with a warning; the keyframe is uploaded; the MP4 reads', async () => {
    const model = createFalVideo(connection());
    expect(model.modelId).toBe("fal-ai/kling-video/v2.1/standard/image-to-video");
    const r = await model.generate({
      prompt: "Rain streaks the window.",
      image: { bytes: keyframe, mimeType: "image/png" },
      durationS: 7,
      width: 1280,
      height: 720,
      camera: "close_up",
    });

    expect(fake.submissions).toHaveLength(1);
    const [s] = fake.submissions;
    const upload = [...fake.uploads.values()][0]!;
    expect(upload.fileName).toBe("keyframe.png");
    expect(s!.endpoint).toBe("fal-ai/kling-video/v2.1/standard/image-to-video");
    expect(s!.input).toEqual({
      prompt: expect.stringContaining("Rain streaks the window."),
      image_url: upload.fileUrl,
      duration: "10",
    });
    expect(s!.input.prompt).toContain("close-up");
    // Status and result name only owner/app, as the client builds them.
    expect(fake.calls("status", s!.requestId)[0]!.path).toBe(`/fal-ai/kling-video/requests/${s!.requestId}/status`);

    expect(r.warnings).toEqual([
      "fal-ai/kling-video/v2.1/standard/image-to-video makes clips of 5, 10 s: asked 7 s, made 10 s",
    ]);
    expect(r.usage).toEqual({ videoSeconds: 10 });
    expect(r.data.mimeType).toBe("video/mp4");
    const p = await probeBytes(r.data.bytes);
    expect(p.formatName).toContain("mp4");
    expect(p.durationS).toBeCloseTo(10, 0);
    expect(p.streams.find((x) => x.codec_type === "video")).toMatchObject({
      codec_name: "h264",
      width: 320,
      height: 180,
    });
    expect(r.data).toMatchObject({ width: 320, height: 180 });
    expect(r.data.durationS).toBeCloseTo(10, 0);
  });

  test("Kling: longer than 10 s is made 10 s and says it is shorter", async () => {
    const r = await createFalVideo(connection()).generate({
      prompt: "p",
      image: { bytes: keyframe, mimeType: "image/png" },
      durationS: 14,
      width: 1280,
      height: 720,
    });
    expect(fake.submissions[0]!.input.duration).toBe("10");
    expect(r.warnings[0]).toContain("shorter than asked");
  });

  test('Hailuo-02: duration "6" | "10", resolution, prompt optimizer', async () => {
    const model = createFalVideo({ ...connection(), model: "fal-ai/minimax/hailuo-02/standard/image-to-video" });
    const r = await model.generate({
      prompt: "Steam rises.",
      image: { bytes: keyframe, mimeType: "image/png" },
      durationS: 5,
      width: 1280,
      height: 720,
    });
    const [s] = fake.submissions;
    expect(s!.endpoint).toBe("fal-ai/minimax/hailuo-02/standard/image-to-video");
    expect(s!.input).toEqual({
      prompt: "Steam rises.",
      image_url: [...fake.uploads.values()][0]!.fileUrl,
      duration: "6",
      resolution: "768P",
      prompt_optimizer: true,
    });
    expect(r.warnings).toEqual([
      "fal-ai/minimax/hailuo-02/standard/image-to-video makes clips of 6, 10 s: asked 5 s, made 6 s",
    ]);
    expect(r.usage.videoSeconds).toBe(6);
    expect((await probeBytes(r.data.bytes)).durationS).toBeCloseTo(6, 0);
  });

  test('Veo 3.1: "8s", aspect ratio and resolution from the frame, no generated audio, the seed', async () => {
    const model = createFalVideo({ ...connection(), model: "fal-ai/veo3.1/image-to-video" });
    const r = await model.generate({
      prompt: "She turns.",
      image: { bytes: portrait, mimeType: "image/png" },
      durationS: 8,
      width: 720,
      height: 1280,
      seed: 3,
    });
    const [s] = fake.submissions;
    expect(s!.endpoint).toBe("fal-ai/veo3.1/image-to-video");
    expect(s!.input).toEqual({
      prompt: "She turns.",
      image_url: [...fake.uploads.values()][0]!.fileUrl,
      duration: "8s",
      aspect_ratio: "9:16",
      resolution: "720p",
      generate_audio: false,
      seed: 3,
    });
    expect(r.warnings).toEqual([]);
    expect(r.data).toMatchObject({ width: 180, height: 320 });
    expect(r.usage.videoSeconds).toBe(8);

    fake.reset();
    await model.generate({
      prompt: "square",
      image: { bytes: keyframe, mimeType: "image/png" },
      durationS: 3,
      width: 720,
      height: 720,
    });
    expect(fake.submissions[0]!.input).toMatchObject({ duration: "4s", aspect_ratio: "auto" });
  });

  test("without an image the text-to-video sibling draws the shot", async () => {
    const model = createFalVideo({ ...connection(), model: "fal-ai/veo3.1/image-to-video" });
    const r = await model.generate({ prompt: "A city at dawn.", durationS: 6, width: 1280, height: 720 });
    const [s] = fake.submissions;
    expect(s!.endpoint).toBe("fal-ai/veo3.1");
    expect(s!.input).toEqual({
      prompt: "A city at dawn.",
      duration: "6s",
      aspect_ratio: "16:9",
      resolution: "720p",
      generate_audio: false,
    });
    expect(fake.calls("initiate")).toHaveLength(0);
    expect(r.response.modelId).toBe("fal-ai/veo3.1");
  });
});

describe("idempotency across crashes", () => {
  test("a stored request id is resumed: polled again, never submitted twice", async () => {
    fake.script(["IN_QUEUE", "IN_QUEUE", "IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED"]);
    const model = createFalVideo(connection());
    const options = {
      prompt: "p",
      image: { bytes: keyframe, mimeType: "image/png" },
      durationS: 5,
      width: 1280,
      height: 720,
    };

    // Attempt 1: the ref is persisted before waiting, then the worker goes away mid-wait.
    let stored: FalRequestRef | undefined;
    const crash = new AbortController();
    const err = await rejection(
      model.generate({
        ...options,
        signal: crash.signal,
        onSubmitted: (ref) => {
          stored = ref;
        },
        onStatus: (st) => {
          if (st.status === "IN_PROGRESS") crash.abort("shutdown");
        },
      }),
    );
    expect((err as Error).name).toBe("AbortError");
    expect(stored).toEqual({
      endpointId: "fal-ai/kling-video/v2.1/standard/image-to-video",
      requestId: fake.submissions[0]!.requestId,
    });
    // Going away is not cancelling: the paid request keeps running.
    expect(fake.calls("cancel")).toHaveLength(0);

    // Attempt 2 (the rescued job): the same request, polled to the end.
    const r = await model.generate({ ...options, resume: stored!.requestId });
    expect(fake.submissions).toHaveLength(1);
    expect(fake.calls("submit")).toHaveLength(1);
    expect(fake.calls("initiate")).toHaveLength(1);
    expect(fake.calls("result", stored!.requestId)).toHaveLength(1);
    expect(fake.calls("status").every((c) => c.path.includes(stored!.requestId))).toBe(true);
    expect(r.response.id).toBe(stored!.requestId);
    expect(r.warnings).toContain(`resumed fal request ${stored!.requestId}: not submitted again`);
    expect((await probeBytes(r.data.bytes)).durationS).toBeCloseTo(5, 0);
  });

  test("with a request store the caller changes nothing: the same options find the request", async () => {
    fake.script(["IN_QUEUE", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED"]);
    const store = memoryRequestStore();
    const options = { prompt: "a lantern", width: 1280, height: 720, seed: 1 };
    const crash = new AbortController();
    await rejection(
      createFalImage({ ...connection(), requests: store }).generate({
        ...options,
        signal: crash.signal,
        onStatus: () => crash.abort("lease-lost"),
      }),
    );
    expect(store.entries.size).toBe(1);
    expect([...store.entries.values()][0]!.requestId).toBe(fake.submissions[0]!.requestId);

    // A fresh model in a fresh worker, same store (a table in production).
    const r = await createFalImage({ ...connection(), requests: store }).generate(options);
    expect(fake.submissions).toHaveLength(1);
    expect(r.response.id).toBe(fake.submissions[0]!.requestId);
    expect(store.entries.size).toBe(0);
    // Done: the next call with the same options is a new generation.
    await createFalImage({ ...connection(), requests: store }).generate(options);
    expect(fake.submissions).toHaveLength(2);
  });

  test("a stored id fal no longer knows is submitted anew, with a warning", async () => {
    const r = await createFalImage(connection()).generate({
      prompt: "p",
      width: 1280,
      height: 720,
      resume: { endpointId: "fal-ai/flux/dev", requestId: "gone-0000" },
    });
    expect(fake.submissions).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/gone-0000.*unknown to fal.*submitted anew/);
  });

  test("if persisting the ref fails, the request is cancelled and the error propagates", async () => {
    fake.script(["IN_QUEUE", "IN_QUEUE", "COMPLETED"]);
    const err = await rejection(
      createFalImage(connection()).generate({
        prompt: "p",
        width: 1280,
        height: 720,
        onSubmitted: () => {
          throw new Error("database down");
        },
      }),
    );
    expect((err as Error).message).toBe("database down");
    expect(fake.calls("cancel", fake.submissions[0]!.requestId)).toHaveLength(1);
  });
});

describe("errors and retries", () => {
  test("429 with Retry-After on submit: waited as told, then one submission", async () => {
    fake.fault({ call: "submit", status: 429, headers: { "retry-after": "1" } });
    const started = Date.now();
    const r = await createFalImage(connection()).generate({ prompt: "p", width: 1280, height: 720 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(fake.calls("submit").map((c) => c.status)).toEqual([429, 200]);
    expect(fake.submissions).toHaveLength(1);
    expect(isPng(r.data.bytes)).toBe(true);
  });

  test("a Retry-After longer than the longest wait ends the retries at once (the job queue backs off)", async () => {
    fake.fault({ call: "submit", status: 429, headers: { "retry-after": "120" } });
    const started = Date.now();
    const err = await rejection(createFalImage(connection()).generate({ prompt: "p", width: 1280, height: 720 }));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(err).toMatchObject({ status: 429, retryable: true, phase: "submit" });
    expect(fake.calls("submit")).toHaveLength(1);
  });

  test("429 and 503 while polling are retried", async () => {
    fake.fault({ call: "status", status: 429 });
    fake.fault({ call: "status", status: 503 });
    const r = await createFalImage(connection()).generate({ prompt: "p", width: 1280, height: 720 });
    expect(fake.calls("status").map((c) => c.status)).toEqual([429, 503, 200, 200, 200]);
    expect(r.data.mimeType).toBe("image/png");
  });

  test("503 that persists: a retryable FalProviderError after the retries; the ref is kept for the next attempt", async () => {
    fake.fault({ call: "status", status: 503, times: Infinity, body: { detail: "Service temporarily unavailable" } });
    const store = memoryRequestStore();
    const err = await rejection(
      createFalImage({ ...connection(), requests: store }).generate({ prompt: "p", width: 1280, height: 720 }),
    );
    expect(err).toBeInstanceOf(FalProviderError);
    expect(err).toMatchObject({
      provider: "fal",
      model: "fal-ai/flux/dev",
      status: 503,
      retryable: true,
      phase: "status",
      requestId: fake.submissions[0]!.requestId,
    });
    expect((err as Error).message).toContain("Service temporarily unavailable");
    expect(fake.calls("status")).toHaveLength(3); // 1 + 2 retries
    expect(store.entries.size).toBe(1);
  });

  test("503 that persists on submit: nothing queued, retryable", async () => {
    fake.fault({ call: "submit", status: 503, times: Infinity });
    const err = await rejection(createFalImage(connection()).generate({ prompt: "p", width: 1280, height: 720 }));
    expect(err).toMatchObject({ status: 503, retryable: true, phase: "submit" });
    expect(fake.calls("submit")).toHaveLength(3);
    expect(fake.submissions).toHaveLength(0);
  });

  test("422 from the result: the detail is the message, not retryable, and the key is nowhere", async () => {
    const store = memoryRequestStore();
    const model = createFalVideo({ ...connection(), requests: store });
    const err = await rejection(
      model.generate({
        prompt: "x".repeat(3000),
        image: { bytes: keyframe, mimeType: "image/png" },
        durationS: 5,
        width: 1280,
        height: 720,
      }),
    );
    expect(err).toBeInstanceOf(FalProviderError);
    const e = err as FalProviderError;
    expect(e).toMatchObject({
      status: 422,
      retryable: false,
      phase: "result",
      model: "fal-ai/kling-video/v2.1/standard/image-to-video",
    });
    expect(e.message).toContain("prompt: String should have at most 2500 characters");
    expect(e.detail).toEqual([
      { loc: ["body", "prompt"], msg: "String should have at most 2500 characters", type: "string_too_long" },
    ]);
    expect(JSON.stringify({ message: e.message, detail: e.detail })).not.toContain(fake.key.split(":")[1]!);
    // The request is dead: nothing to resume.
    expect(store.entries.size).toBe(0);
  });

  test("422 at submission (fault): the field errors become the message", async () => {
    fake.fault({
      call: "submit",
      status: 422,
      body: {
        detail: [{ loc: ["body", "image_size"], msg: "Input should be a valid image size", type: "value_error" }],
      },
    });
    const err = await rejection(createFalImage(connection()).generate({ prompt: "p", width: 1280, height: 720 }));
    expect(err).toMatchObject({ status: 422, retryable: false, phase: "submit" });
    expect((err as Error).message).toContain("image_size: Input should be a valid image size");
    expect(fake.calls("submit")).toHaveLength(1);
  });

  test("a wrong key: 401, not retried", async () => {
    const err = await rejection(
      createFalImage({ ...connection(), key: "wrong:key" }).generate({ prompt: "p", width: 1280, height: 720 }),
    );
    expect(err).toMatchObject({ status: 401, retryable: false });
    expect((err as Error).message).not.toContain("wrong:key");
    expect(fake.calls("submit")).toHaveLength(1);
  });

  test("aborting cancels the fal request (PUT …/cancel) and rejects with the abort", async () => {
    fake.script(["IN_QUEUE"]);
    const store = memoryRequestStore();
    const stop = new AbortController();
    const err = await rejection(
      createFalVideo({ ...connection(), requests: store }).generate({
        prompt: "p",
        image: { bytes: keyframe, mimeType: "image/png" },
        durationS: 5,
        width: 1280,
        height: 720,
        signal: stop.signal,
        onStatus: (st) => {
          if (st.status === "IN_QUEUE") setTimeout(() => stop.abort("cancelled"), 20);
        },
      }),
    );
    expect((err as Error).name).toBe("AbortError");
    const [s] = fake.submissions;
    const cancels = fake.calls("cancel", s!.requestId);
    expect(cancels).toHaveLength(1);
    expect(cancels[0]).toMatchObject({
      method: "PUT",
      path: `/fal-ai/kling-video/requests/${s!.requestId}/cancel`,
      status: 202,
    });
    expect(s!.cancelled).toBe(true);
    expect(fake.calls("result")).toHaveLength(0);
    expect(store.entries.size).toBe(0);
  });
});
