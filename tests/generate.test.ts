// Direct generation on the local providers (seed 004's text/image → image/video, seed 002's story
// video): each request is a task its owner follows to real files (PNG and MP4, checked with
// ffprobe), each made thing a work; limits per tier; bad input is a 4xx that stores nothing.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { probe } from "../src/media/ffmpeg.ts";
import { ffmpegCapture, TEST_H264 } from "./support/media.ts";
import { fetchSigned, pipelineContext, waitUntil } from "./support/pipeline.ts";
import { postUpload, solidPng } from "./support/upload-file.ts";

const ctx = await pipelineContext();
await ctx.startWorker();

type Task = {
  task_id: string;
  kind: string;
  status: string;
  progress: number;
  provider: string;
  params: { width: number; height: number; seed: number };
  result: {
    images: Array<{ url: string; thumbnail_url: string; width: number; height: number; file_size: number }>;
    video: { url: string; thumbnail_url: string; duration_s: number; resolution: string; file_size: number } | null;
  } | null;
  error: { code: string; message: string } | null;
  work_ids: string[];
};

async function settled(token: string, taskId: string): Promise<Task> {
  return waitUntil(`task ${taskId} to end`, async () => {
    const r = await ctx.call("GET", `/api/v1/generate/tasks/${taskId}`, { token });
    expect(r.status).toBe(200);
    const task = r.json.data as Task;
    return ["completed", "failed", "cancelled"].includes(task.status) ? task : null;
  });
}

/** The bytes behind a signed link, probed by ffprobe from a file. */
async function probed(url: string) {
  const res = await fetchSigned(ctx, url);
  expect(res.status).toBe(200);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const path = join(ctx.config.dataDir, `probe-${crypto.randomUUID()}`);
  await Bun.write(path, bytes);
  return { bytes, info: await probe(path) };
}

/** A multipart form as a browser sends it: text fields and one `image` file. */
function form(fields: Record<string, string>, image?: { bytes: Uint8Array; name: string; type: string }) {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) f.set(k, v);
  if (image) f.set("image", new File([image.bytes as Uint8Array<ArrayBuffer>], image.name, { type: image.type }));
  return f;
}

async function postForm(path: string, token: string, body: FormData) {
  const res = await ctx.app.handle(
    new Request(`http://localhost${path}`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body }),
  );
  return { status: res.status, json: await res.json(), headers: res.headers };
}

describe("local generation", () => {
  test("text-to-image makes the pictures asked for, each a PNG with a thumbnail and a work", async () => {
    const me = await ctx.register("painter");
    const r = await ctx.call("POST", "/api/v1/generate/text-to-image", {
      token: me.token,
      body: {
        prompt:
          "雨夜，茶馆里很安静。狐狸坐在窗边，望着外面的雨。狐狸轻声说：“雨什么时候才会停呢？”老板笑着说：“快了，快了，喝杯热茶吧。”",
        width: 512,
        height: 384,
        num_images: 2,
        seed: 7,
      },
    });
    expect(r.status).toBe(202);
    expect(r.json.data).toMatchObject({ status: "pending" });
    expect(r.json.data.estimated_time_s).toBeGreaterThan(0);
    expect(r.json.data.work_ids).toHaveLength(2);
    const task = await settled(me.token, r.json.data.task_id);
    expect(task.status).toBe("completed");
    expect(task.provider).toBe("local");
    expect(task.result!.images).toHaveLength(2);
    for (const img of task.result!.images) {
      expect([img.width, img.height]).toEqual([512, 384]);
      const { bytes, info } = await probed(img.url);
      expect(bytes.byteLength).toBe(img.file_size);
      const v = info.streams.find((s) => s.codec_type === "video")!;
      expect([v.codec_name, v.width, v.height]).toEqual(["png", 512, 384]);
      const thumb = await probed(img.thumbnail_url);
      expect(thumb.info.streams[0]!.codec_name).toBe("mjpeg");
    }
    // The two pictures differ (seeds 7 and 8 place the cast the prompt names differently).
    const [a, b] = await Promise.all(
      task.result!.images.map((i) => fetchSigned(ctx, i.url).then((x) => x.arrayBuffer())),
    );
    expect(Buffer.from(a!).equals(Buffer.from(b!))).toBe(false);
    const works = await ctx.call("GET", "/api/v1/works?type=image", { token: me.token });
    expect(works.status).toBe(200);
    expect(works.json.data.items.map((w: { id: string }) => w.id).sort()).toEqual([...task.work_ids].sort());
    expect(works.json.data.items.every((w: { status: string }) => w.status === "completed")).toBe(true);
  });

  test("image-to-video from a multipart picture makes an MP4 in the picture's aspect ratio", async () => {
    const me = await ctx.register("animator");
    const png = await solidPng("teal", "360x640");
    const r = await postForm(
      "/api/v1/generate/image-to-video",
      me.token,
      form(
        { prompt: "the fox walks slowly along the river", duration: "2", resolution: "480p", fps: "12" },
        {
          bytes: png,
          name: "fox.png",
          type: "image/png",
        },
      ),
    );
    expect(r.status).toBe(202);
    const task = await settled(me.token, r.json.data.task_id);
    expect(task.error).toBeNull();
    expect(task.status).toBe("completed");
    expect([task.params.width, task.params.height]).toEqual([480, 854]);
    const { info } = await probed(task.result!.video!.url);
    const v = info.streams.find((s) => s.codec_type === "video")!;
    expect(v.codec_name).toBe("h264");
    expect([v.width, v.height]).toEqual([480, 854]);
    expect(info.durationS).toBeGreaterThan(1.5);
    expect(task.result!.video!.resolution).toBe("480x854");
  });

  test("image-to-image from an uploaded picture depends on the picture and the strength", async () => {
    const me = await ctx.register("blender");
    const up = await postUpload(ctx.app, me.token, {
      name: "red.png",
      type: "image/png",
      bytes: await solidPng("red", "256x256"),
    });
    expect(up.status).toBe(201);
    const assetId = (await up.json()).data.id;
    const make = async (strength: number) => {
      const r = await ctx.call("POST", "/api/v1/generate/image-to-image", {
        token: me.token,
        body: { prompt: "a quiet garden at dawn", image_asset_id: assetId, strength, seed: 3 },
      });
      expect(r.status).toBe(202);
      const task = await settled(me.token, r.json.data.task_id);
      expect(task.status).toBe("completed");
      expect([task.params.width, task.params.height]).toEqual([256, 256]);
      return new Uint8Array(await (await fetchSigned(ctx, task.result!.images[0]!.url)).arrayBuffer());
    };
    const [weak, strong] = [await make(0), await make(1)];
    // Strength 0 keeps the red source; strength 1 is the painting: the mean red of the two differs.
    const red = async (png: Uint8Array) => {
      const path = join(ctx.config.dataDir, `i2i-${crypto.randomUUID()}.png`);
      await Bun.write(path, png);
      const raw = (
        await ffmpegCapture(["-i", path, "-vf", "scale=16:16", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"])
      ).stdout;
      let r = 0;
      for (let i = 0; i < raw.length; i += 3) r += raw[i]! - (raw[i + 1]! + raw[i + 2]!) / 2;
      return r / (raw.length / 3);
    };
    expect(await red(weak)).toBeGreaterThan(200);
    expect(await red(strong)).toBeLessThan(150);
  });

  test("a story video narrates the prompt over a clip as long as its narration", async () => {
    const me = await ctx.register("teller");
    const r = await ctx.call("POST", "/api/v1/generate/story-video", {
      token: me.token,
      body: { prompt: "老渔夫在海边补网。他抬头看了看天，低声说：“要下雨了。”", resolution: "480p", duration: 2 },
    });
    expect(r.status).toBe(202);
    const task = await settled(me.token, r.json.data.task_id);
    expect(task.error).toBeNull();
    const { info } = await probed(task.result!.video!.url);
    expect(info.streams.map((s) => s.codec_type).sort()).toEqual(["audio", "video"]);
    expect(info.durationS).toBeCloseTo(task.result!.video!.duration_s, 0);
    expect(info.durationS).toBeGreaterThan(2);
  });
});

describe("bad input", () => {
  test("out-of-range sizes, counts and strengths, long prompts and control characters are 400", async () => {
    const me = await ctx.register("fuzzy");
    const bad: Array<[string, Record<string, unknown>]> = [
      ["text-to-image", { prompt: "x", width: 0, height: 512 }],
      ["text-to-image", { prompt: "x", width: 100_000, height: 512 }],
      ["text-to-image", { prompt: "x", num_images: 9 }],
      ["text-to-image", { prompt: "x".repeat(10_240) }],
      ["text-to-image", { prompt: "bell\u0007" }],
      ["text-to-image", { prompt: "x", width: 512.5 }],
      ["image-to-image", { prompt: "x", image_asset_id: crypto.randomUUID(), strength: 2 }],
      ["image-to-image", { prompt: "x" }],
      ["text-to-video", { prompt: "x", duration: 999 }],
      ["text-to-video", { prompt: "x", resolution: "8k" }],
    ];
    for (const [route, body] of bad) {
      const r = await ctx.call("POST", `/api/v1/generate/${route}`, { token: me.token, body });
      expect([route, r.status, r.json.success]).toEqual([route, 400, false]);
    }
    const mine = await ctx.call("GET", "/api/v1/generate/tasks", { token: me.token });
    expect(mine.json.data.total).toBe(0);
  });

  test("an unknown or unconfigured model is 400 listing the models that are configured", async () => {
    const me = await ctx.register("picky");
    for (const model of ["runway", "no-such-model", "sora"]) {
      const r = await ctx.call("POST", "/api/v1/generate/text-to-video", {
        token: me.token,
        body: { prompt: "x", model },
      });
      expect(r.status).toBe(400);
      expect(r.json.error.details.fields[0].message).toContain("available: local");
    }
  });

  test("a video sent as the image is 415; another user's asset is 404", async () => {
    const me = await ctx.register("sender");
    const other = await ctx.register("stranger");
    const mp4 = (
      await ffmpegCapture([
        "-f",
        "lavfi",
        "-i",
        "testsrc=s=64x64:d=1",
        ...TEST_H264,
        "-f",
        "mp4",
        "-movflags",
        "frag_keyframe+empty_moov",
        "pipe:1",
      ])
    ).stdout;
    const r = await postForm(
      "/api/v1/generate/image-to-video",
      me.token,
      form({ prompt: "x" }, { bytes: mp4, name: "a.png", type: "image/png" }),
    );
    expect(r.status).toBe(415);
    const up = await postUpload(ctx.app, other.token, {
      name: "b.png",
      type: "image/png",
      bytes: await solidPng("blue"),
    });
    const theirs = (await up.json()).data.id;
    const r2 = await ctx.call("POST", "/api/v1/generate/image-to-image", {
      token: me.token,
      body: { prompt: "x", image_asset_id: theirs },
    });
    expect(r2.status).toBe(404);
  });

  test("another user's task is 404", async () => {
    const a = await ctx.register("owner1");
    const b = await ctx.register("peeker1");
    const r = await ctx.call("POST", "/api/v1/generate/text-to-image", {
      token: a.token,
      body: { prompt: "a lighthouse", width: 128, height: 128 },
    });
    const id = r.json.data.task_id;
    expect((await ctx.call("GET", `/api/v1/generate/tasks/${id}`, { token: b.token })).status).toBe(404);
    expect((await ctx.call("GET", `/api/v1/generate/tasks/${id}`, { token: a.token })).status).toBe(200);
    await settled(a.token, id);
  });
});

describe("retries", () => {
  test("a retried request with the same Idempotency-Key gets the first answer and makes one generation", async () => {
    const me = await ctx.register("retrier");
    const send = () =>
      ctx.call("POST", "/api/v1/generate/text-to-image", {
        token: me.token,
        headers: { "idempotency-key": "paint-once-1" },
        body: { prompt: "a lantern", width: 64, height: 64 },
      });
    const [first, again] = [await send(), await send()];
    expect([first.status, again.status]).toEqual([202, 202]);
    expect(again.json.data.task_id).toBe(first.json.data.task_id);
    const mine = await ctx.call("GET", "/api/v1/generate/tasks", { token: me.token });
    expect(mine.json.data.total).toBe(1);
    const other = await ctx.call("POST", "/api/v1/generate/text-to-image", {
      token: me.token,
      headers: { "idempotency-key": "paint-once-1" },
      body: { prompt: "another lantern", width: 64, height: 64 },
    });
    expect(other.status).toBe(409);
    await settled(me.token, first.json.data.task_id);
  });
});

describe("limits", () => {
  test("a free user's eleventh picture of the day is 429 with Retry-After; a VIP's is not", async () => {
    const me = await ctx.register("counter");
    const r = await ctx.call("POST", "/api/v1/generate/text-to-image", {
      token: me.token,
      body: { prompt: "a cat", width: 64, height: 64, num_images: 4 },
    });
    expect(r.status).toBe(202);
    // 4 + 4 = 8, then 4 more would be 12 > 10; concurrently, exactly the ones within the limit pass.
    const many = await Promise.all(
      Array.from({ length: 4 }, () =>
        ctx.call("POST", "/api/v1/generate/text-to-image", {
          token: me.token,
          body: { prompt: "a cat", width: 64, height: 64, num_images: 2 },
        }),
      ),
    );
    expect(many.map((x) => x.status).sort()).toEqual([202, 202, 202, 429]);
    const refused = many.find((x) => x.status === 429)!;
    expect(refused.json.error.code).toBe("RATE_LIMITED");
    const retry = Number(refused.headers.get("retry-after"));
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(86_400);
    await ctx.db.updateTable("users").set({ tier: "vip" }).where("id", "=", me.user.id).execute();
    const vip = await ctx.call("POST", "/api/v1/generate/text-to-image", {
      token: me.token,
      body: { prompt: "a cat", width: 64, height: 64, num_images: 2 },
    });
    expect(vip.status).toBe(202);
    // Every accepted generation ends before the file does: nothing is left in flight at the worker's stop.
    const accepted = [r, ...many.filter((x) => x.status === 202), vip].map((x) => x.json.data.task_id as string);
    for (const id of accepted) expect((await settled(me.token, id)).status).toBe("completed");
  });

  test("only an ADMIN sets a tier", async () => {
    const me = await ctx.register("climber");
    const self = await ctx.call("PATCH", `/api/v1/users/${me.user.id}`, { token: me.token, body: { tier: "vip" } });
    expect(self.status).toBe(403);
    const admin = await ctx.register("tiersetter");
    await ctx.db.updateTable("users").set({ role: "ADMIN" }).where("id", "=", admin.user.id).execute();
    const set = await ctx.call("PATCH", `/api/v1/users/${me.user.id}`, { token: admin.token, body: { tier: "vip" } });
    expect(set.status).toBe(200);
    expect(set.json.data.tier).toBe("vip");
  });
});
