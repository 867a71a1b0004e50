// OpenAI's video model (Sora 2) with the real SDK against the local fake (tests/support/fake-openai.ts):
// text- and image-to-video give the MP4, lengths and sizes map to the ones Sora makes (with
// warnings), a failed render is final while 429s are retryable, and a call aborted mid-render is
// resumed by the next call with the same options instead of paying for a second video — through
// an in-memory store, Postgres's provider_requests, and the provider resolver's chain and ledger.
// Polls are 1 ms apart and the fake advances a render one step per poll: nothing waits on a clock.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import OpenAI, { toFile } from "openai";
import { loadConfig } from "../src/config.ts";
import { createDb } from "../src/db/client.ts";
import { createLogger } from "../src/log.ts";
import { videoFacts } from "../src/media/ffmpeg.ts";
import { stillInFlight } from "../src/providers/ai-error.ts";
import { pgRequestStore } from "../src/providers/fal/pg-store.ts";
import { memoryRequestStore } from "../src/providers/fal/queue.ts";
import {
  createOpenAIVideo,
  OpenAIProviderError,
  OpenAIVideoError,
  type OpenAIVideoOptions,
} from "../src/providers/openai/index.ts";
import { createProviderResolver } from "../src/providers/registry.ts";
import { syncBuiltinProviders } from "../src/providers/settings.ts";
import type { VideoOptions } from "../src/providers/types.ts";
import { createTestDatabase } from "./support/context.ts";
import { type FakeOpenAI, makePng, type RecordedRequest, reply, startFakeOpenAI } from "./support/fake-openai.ts";
import { rejection } from "./support/rejection.ts";

let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await startFakeOpenAI();
});
afterEach(() => fake.reset());
afterAll(() => fake.stop());

const sora = (o: Partial<OpenAIVideoOptions> = {}) =>
  createOpenAIVideo({ apiKey: fake.apiKey, baseUrl: fake.url, pollIntervalMs: 1, ...o });

const shot = (o: Partial<VideoOptions> = {}): VideoOptions => ({
  prompt: "Lin pours tea by the window",
  durationS: 4,
  width: 1280,
  height: 720,
  ...o,
});

const creates = () => fake.requests.filter((r) => r.method === "POST" && r.path === "/v1/videos");
const polls = () => fake.requests.filter((r) => r.method === "GET" && /^\/v1\/videos\/[^/]+$/.test(r.path));
const downloads = () => fake.requests.filter((r) => r.method === "GET" && r.path.endsWith("/content"));
const fields = (r: RecordedRequest) => r.body as Record<string, string>;

/** Aborts `controller` at the video's `n`th status poll: the worker dies while Sora renders. */
const abortAtPoll = (controller: AbortController, n: number) => ({
  polls: n + 2,
  onPoll: (v: { polls: number }) => {
    if (v.polls === n) controller.abort("lease-lost");
  },
});

describe("text-to-video and image-to-video", () => {
  test("text-to-video: multipart create, polls until completed, the MP4 downloaded", async () => {
    const r = await sora().generate(shot());
    expect(r.warnings).toEqual([]);
    expect(r.usage).toEqual({ videoSeconds: 4 });
    const [created] = creates();
    expect(created!.headers["content-type"]).toStartWith("multipart/form-data");
    expect(created!.headers.authorization).toBe(`Bearer ${fake.apiKey}`);
    expect(fields(created!)).toEqual({
      model: "sora-2",
      prompt: "Lin pours tea by the window",
      seconds: "4",
      size: "1280x720",
    });
    expect(created!.files).toEqual([]);
    const video = fake.videos.get(r.response.id!)!;
    expect(r.response).toMatchObject({ provider: "openai", modelId: "sora-2", id: video.id });
    expect(video.status).toBe("completed");
    // queued (the create's answer) → in_progress → completed: two polls, one download.
    expect(polls().map((p) => p.path)).toEqual([`/v1/videos/${video.id}`, `/v1/videos/${video.id}`]);
    expect(downloads()).toHaveLength(1);
    expect(r.data).toMatchObject({ mimeType: "video/mp4", width: 1280, height: 720, durationS: 4 });
    expect(await videoFacts(r.data.bytes)).toEqual({ width: 1280, height: 720, durationS: 4 });
  });

  test("image-to-video: a keyframe of the clip's size goes as input_reference, unchanged", async () => {
    const keyframe = makePng(720, 1280);
    const r = await sora().generate(
      shot({ image: { bytes: keyframe, mimeType: "image/png" }, width: 720, height: 1280 }),
    );
    expect(r.warnings).toEqual([]);
    const [created] = creates();
    expect(fields(created!).size).toBe("720x1280");
    expect(created!.files).toHaveLength(1);
    expect(created!.files[0]).toMatchObject({ field: "input_reference", filename: "keyframe.png", type: "image/png" });
    expect(created!.files[0]!.bytes).toEqual(keyframe);
    expect(await videoFacts(r.data.bytes)).toEqual({ width: 720, height: 1280, durationS: 4 });
  });

  test("image-to-video: a keyframe of another size is scaled and cropped to the clip's (Sora refuses others)", async () => {
    const r = await sora().generate(shot({ image: { bytes: makePng(640, 480), mimeType: "image/png" } }));
    expect(r.warnings).toEqual([
      "the keyframe (640x480) was scaled and cropped to 1280x720: Sora animates an image of the clip's size",
    ]);
    const sent = fake.videos.get(r.response.id!)!.reference!;
    expect(sent).toMatchObject({ field: "input_reference", type: "image/png" });
    expect(await videoFacts(r.data.bytes)).toMatchObject({ width: 1280, height: 720 });
  });

  test("a keyframe that is no image is refused before anything is created", async () => {
    const err = await rejection(
      sora().generate(shot({ image: { bytes: new TextEncoder().encode("not a picture"), mimeType: "image/png" } })),
    );
    expect(err).toBeInstanceOf(OpenAIProviderError);
    expect(err).toMatchObject({ code: "bad_image", retryable: false });
    expect(creates()).toHaveLength(0);
  });
});

describe("lengths, sizes and prompts", () => {
  // The content is not what is measured here: one real MP4 stands in for every case's, keeping them fast.
  let standIn: Uint8Array;
  beforeAll(async () => {
    standIn = (await sora().generate(shot())).data.bytes;
    fake.reset();
  });
  const cases: Array<{ model?: string; o: Partial<VideoOptions>; seconds: string; size: string; warnings: string[] }> =
    [
      {
        o: { durationS: 5 },
        seconds: "8",
        size: "1280x720",
        warnings: ["sora-2 makes clips of 4, 8, 12 s: asked 5 s, made 8 s"],
      },
      {
        o: { durationS: 20 },
        seconds: "12",
        size: "1280x720",
        warnings: ["sora-2 makes clips of 4, 8, 12 s: asked 20 s, made 12 s (shorter than asked)"],
      },
      {
        o: { width: 1080, height: 1920 },
        seconds: "4",
        size: "720x1280",
        warnings: ["sora-2 does not make 1080x1920 clips; made 720x1280, the nearest size it offers"],
      },
      {
        o: { width: 1792, height: 1024 },
        seconds: "4",
        size: "1280x720",
        warnings: ["sora-2 does not make 1792x1024 clips; made 1280x720, the nearest size it offers"],
      },
      {
        model: "sora-2-pro",
        o: { width: 1792, height: 1024, durationS: 12 },
        seconds: "12",
        size: "1792x1024",
        warnings: [],
      },
      {
        model: "sora-2-pro",
        o: { width: 1024, height: 1800 },
        seconds: "4",
        size: "1024x1792",
        warnings: ["sora-2-pro does not make 1024x1800 clips; made 1024x1792, the nearest size it offers"],
      },
    ];
  for (const c of cases) {
    test(`${c.model ?? "sora-2"} ${c.o.width ?? 1280}x${c.o.height ?? 720} ${c.o.durationS ?? 4} s → ${c.size} ${c.seconds} s`, async () => {
      fake.scriptVideos({ polls: 0, content: standIn });
      const r = await sora({ model: c.model }).generate(shot(c.o));
      expect(fields(creates()[0]!)).toMatchObject({ model: c.model ?? "sora-2", seconds: c.seconds, size: c.size });
      expect(r.warnings).toEqual(c.warnings);
      const [width, height] = c.size.split("x").map(Number);
      expect(r.data).toMatchObject({ width, height, durationS: Number(c.seconds) });
      expect(r.usage).toEqual({ videoSeconds: Number(c.seconds) });
    });
  }

  test("the camera is put into words in the prompt; a seed is not taken (warned)", async () => {
    fake.scriptVideos({ polls: 0, content: standIn });
    const r = await sora().generate(shot({ camera: "close_up", seed: 7 }));
    expect(fields(creates()[0]!).prompt).toBe(
      "Lin pours tea by the window Camera: close-up, slow push in on the face.",
    );
    expect(r.warnings).toEqual(["the OpenAI video API takes no seed; the clip is not reproducible"]);
  });
});

describe("failures", () => {
  test("a failed render is an OpenAIVideoError, not retryable, naming the video; its stored id is dropped", async () => {
    const store = memoryRequestStore();
    fake.scriptVideos({
      polls: 1,
      fail: { code: "moderation_blocked", message: "Your request was blocked by our moderation system." },
    });
    const err = await rejection(sora({ requests: store }).generate(shot()));
    expect(err).toBeInstanceOf(OpenAIVideoError);
    const [id] = [...fake.videos.keys()];
    expect(err).toMatchObject({
      provider: "openai",
      model: "sora-2",
      code: "moderation_blocked",
      retryable: false,
      phase: "result",
      requestId: id,
    });
    expect((err as Error).message).toBe(
      `openai sora-2: video ${id} failed (moderation_blocked: Your request was blocked by our moderation system.)`,
    );
    expect(stillInFlight(err)).toBe(false);
    expect(downloads()).toHaveLength(0);
    expect(store.entries.size).toBe(0);
  });

  test("429 on create: retryable, retried by the SDK (Retry-After honoured), nothing created or stored", async () => {
    const store = memoryRequestStore();
    const limited = reply.error(429, "Rate limit reached for videos per minute", {
      code: "rate_limit_exceeded",
      headers: { "retry-after-ms": "0" },
    });
    fake.enqueue(limited, limited, limited);
    const err = await rejection(sora({ requests: store }).generate(shot()));
    expect(err).toBeInstanceOf(OpenAIProviderError);
    expect(err).not.toBeInstanceOf(OpenAIVideoError);
    expect(err).toMatchObject({ status: 429, code: "rate_limit_exceeded", retryable: true });
    expect((err as Error).message).toContain("gave up after 3 tries");
    expect(creates()).toHaveLength(3);
    expect(fake.videos.size).toBe(0);
    expect(store.entries.size).toBe(0);
  });

  test("429s while polling: retryable and still in flight; the id is kept and the next call resumes it", async () => {
    const store = memoryRequestStore();
    const limited = reply.error(429, "Rate limit reached", {
      code: "rate_limit_exceeded",
      headers: { "retry-after-ms": "0" },
    });
    fake.scriptVideos({ polls: 1, onPoll: (v) => v.polls === 1 && fake.enqueue(limited, limited, limited) });
    const err = await rejection(sora({ requests: store }).generate(shot()));
    const [id] = [...fake.videos.keys()];
    expect(err).toBeInstanceOf(OpenAIVideoError);
    expect(err).toMatchObject({ status: 429, retryable: true, phase: "status", requestId: id });
    // The chain must not pay another provider while this render goes on.
    expect(stillInFlight(err)).toBe(true);
    expect([...store.entries.values()]).toEqual([{ endpointId: "openai:sora-2", requestId: id! }]);

    const r = await sora({ requests: store }).generate(shot());
    expect(r.response.id).toBe(id);
    expect(r.warnings).toEqual([`resumed OpenAI video ${id}: not created again`]);
    expect(creates()).toHaveLength(1);
    expect(downloads()).toHaveLength(1);
    expect(store.entries.size).toBe(0);
  });

  test("a wrong key: 401, not retryable, the key nowhere in the message", async () => {
    const err = await rejection(sora({ apiKey: "sk-wrong-key-123456789" }).generate(shot()));
    expect(err).toMatchObject({ status: 401, code: "invalid_api_key", retryable: false });
    expect((err as Error).message).not.toContain("sk-wrong-key-123456789");
    expect(creates()).toHaveLength(1);
  });

  test("content that is not an MP4 is an error, not retryable", async () => {
    fake.scriptVideos({ polls: 0, content: new TextEncoder().encode("<html>oops</html>") });
    const err = await rejection(sora().generate(shot()));
    expect(err).toMatchObject({ code: "bad_video", retryable: false, phase: "result" });
  });
});

describe("crash safety: one video per request, whoever polls it", () => {
  test("a call aborted mid-render is resumed by another model instance sharing the store: one create", async () => {
    const store = memoryRequestStore();
    const worker1 = new AbortController();
    fake.scriptVideos(abortAtPoll(worker1, 1));
    const keyframe = { bytes: makePng(1280, 720), mimeType: "image/png" };
    const err = await rejection(sora({ requests: store }).generate(shot({ image: keyframe, signal: worker1.signal })));
    expect((err as Error).name).toBe("AbortError");
    const [id] = [...fake.videos.keys()];
    // The abort keeps the id: Sora renders on, and cannot be cancelled.
    expect([...store.entries.values()]).toEqual([{ endpointId: "openai:sora-2", requestId: id! }]);
    expect(downloads()).toHaveLength(0);

    const r = await sora({ requests: store }).generate(shot({ image: keyframe }));
    expect(creates()).toHaveLength(1);
    expect(downloads()).toHaveLength(1);
    expect(r.response.id).toBe(id);
    expect(r.warnings).toEqual([`resumed OpenAI video ${id}: not created again`]);
    expect(r.usage).toEqual({ videoSeconds: 4 });
    expect(await videoFacts(r.data.bytes)).toEqual({ width: 1280, height: 720, durationS: 4 });
    expect(store.entries.size).toBe(0);
  });

  test("other options are another request: a changed prompt or keyframe creates its own video", async () => {
    const store = memoryRequestStore();
    const worker1 = new AbortController();
    fake.scriptVideos(abortAtPoll(worker1, 1), { polls: 0 }, { polls: 0 });
    await rejection(sora({ requests: store }).generate(shot({ signal: worker1.signal })));
    await sora({ requests: store }).generate(shot({ prompt: "Lin drinks tea" }));
    await sora({ requests: store }).generate(shot({ image: { bytes: makePng(1280, 720), mimeType: "image/png" } }));
    expect(creates()).toHaveLength(3);
    // The first request's id is still there to be resumed.
    expect(store.entries.size).toBe(1);
  });

  test("a stored id OpenAI no longer knows (404) is created anew, with a warning", async () => {
    const store = memoryRequestStore();
    const worker1 = new AbortController();
    fake.scriptVideos(abortAtPoll(worker1, 1));
    await rejection(sora({ requests: store }).generate(shot({ signal: worker1.signal })));
    const [lost] = [...fake.videos.keys()];
    fake.videos.delete(lost!);

    const r = await sora({ requests: store }).generate(shot());
    expect(r.warnings).toEqual([`OpenAI video ${lost} is unknown to OpenAI (expired?): created anew`]);
    expect(creates()).toHaveLength(2);
    expect(r.response.id).not.toBe(lost);
    expect(store.entries.size).toBe(0);
  });
});

// A database of this file's own, with the built-in providers' rows as every process writes them.
const db = createDb(await createTestDatabase(), { max: 4 });
await syncBuiltinProviders(db);
afterAll(() => db.destroy());

describe("in Postgres (provider_requests) and through the resolver", () => {
  const log = createLogger("warn", {}, () => {});
  const dataDir = `${process.env.TMPDIR ?? "/tmp"}/inkreel-sora-${crypto.randomUUID()}`;
  const rows = () => db.selectFrom("provider_requests").select(["endpoint_id", "request_id"]).execute();

  test("pgRequestStore: the id survives the aborted call as a row, resumed by a second model, then deleted", async () => {
    const worker1 = new AbortController();
    fake.scriptVideos(abortAtPoll(worker1, 2));
    await rejection(sora({ requests: pgRequestStore(db) }).generate(shot({ signal: worker1.signal })));
    const [id] = [...fake.videos.keys()];
    expect(await rows()).toEqual([{ endpoint_id: "openai:sora-2", request_id: id! }]);

    const r = await sora({ requests: pgRequestStore(db) }).generate(shot());
    expect(r.response.id).toBe(id);
    expect(creates()).toHaveLength(1);
    expect(await rows()).toEqual([]);
  });

  test("the resolver serves video with openai/sora-2 (OPENAI_VIDEO_POLL_MS), billed once in the ledger across a crash", async () => {
    await db
      .insertInto("provider_chains")
      .values({ capability: "video", chain: JSON.stringify([{ provider: "openai", model: "sora-2" }]) })
      .execute();
    const config = loadConfig({
      DATA_DIR: dataDir,
      OPENAI_API_KEY: fake.apiKey,
      OPENAI_BASE_URL: fake.url,
      OPENAI_VIDEO_POLL_MS: "1",
    });
    // Two workers, each with its own resolver (and models).
    const [first, second] = [0, 1].map(() => createProviderResolver({ config, db, log }));
    const worker1 = new AbortController();
    fake.scriptVideos(abortAtPoll(worker1, 1));
    const v1 = (await first!.forScope({ stage: "clips" })).video;
    expect(v1).toMatchObject({ provider: "openai", modelId: "sora-2" });
    await rejection(v1.generate(shot({ signal: worker1.signal })));
    const r = await (await second!.forScope({ stage: "clips" })).video.generate(shot());
    const [id] = [...fake.videos.keys()];
    expect(r.response.id).toBe(id);
    expect(creates()).toHaveLength(1);
    const ledger = await db
      .selectFrom("provider_usage")
      .select(["provider", "model", "outcome", "request_id", "video_seconds", "cost_usd"])
      .orderBy("created_at")
      .execute();
    expect(ledger.map((l) => ({ ...l, video_seconds: Number(l.video_seconds), cost_usd: Number(l.cost_usd) }))).toEqual(
      [
        { provider: "openai", model: "sora-2", outcome: "failed", request_id: null, video_seconds: 0, cost_usd: 0 },
        { provider: "openai", model: "sora-2", outcome: "ok", request_id: id!, video_seconds: 4, cost_usd: 0.4 },
      ],
    );
    expect(await rows()).toEqual([]);
  });
});

describe("the fake checks what OpenAI checks", () => {
  const client = () => new OpenAI({ apiKey: fake.apiKey, baseURL: fake.url, maxRetries: 0 });
  const refused = async (body: Parameters<OpenAI["videos"]["create"]>[0]) => {
    const err = await rejection(client().videos.create(body));
    return { status: (err as { status?: number }).status, param: (err as { param?: string }).param };
  };

  test("missing prompt, lengths, sizes, a reference of another size: 400; unknown ids: 404", async () => {
    expect(await refused({ prompt: "" })).toEqual({ status: 400, param: "prompt" });
    expect(await refused({ prompt: "p", seconds: "5" as never })).toEqual({ status: 400, param: "seconds" });
    expect(await refused({ prompt: "p", size: "1024x1024" as never })).toEqual({ status: 400, param: "size" });
    expect(await refused({ prompt: "p", model: "sora-2", size: "1792x1024" })).toEqual({ status: 400, param: "size" });
    expect(await refused({ prompt: "p", model: "sora-9" })).toEqual({ status: 400, param: "model" });
    const small = await toFile(makePng(64, 64), "k.png", { type: "image/png" });
    expect(await refused({ prompt: "p", size: "1280x720", input_reference: small })).toEqual({
      status: 400,
      param: "input_reference",
    });
    expect(fake.videos.size).toBe(0);
    const unknown = await rejection(client().videos.retrieve("video_nope"));
    expect((unknown as { status?: number }).status).toBe(404);
    const content = await rejection(client().videos.downloadContent("video_nope"));
    expect((content as { status?: number }).status).toBe(404);
  });

  test("content before the render is done: 400", async () => {
    const video = await client().videos.create({ prompt: "p" });
    expect(video).toMatchObject({
      object: "video",
      status: "queued",
      model: "sora-2",
      seconds: "4",
      size: "720x1280",
      progress: 0,
    });
    const early = await rejection(client().videos.downloadContent(video.id));
    expect((early as { status?: number }).status).toBe(400);
  });
});
