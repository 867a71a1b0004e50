// POST /api/v1/uploads: pictures, videos and recordings streamed to disk and into storage, their
// type sniffed from the bytes, size and length read with ffprobe, a thumbnail made; the size
// limit, the per-user limit of uploads in flight, and uploads cut off half-way leave nothing behind.
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { ffmpegCapture } from "./support/media.ts";
import { fetchSigned, pipelineContext, waitUntil } from "./support/pipeline.ts";

const ctx = await pipelineContext();
const BOUNDARY = "inkreel-test-boundary";
const enc = new TextEncoder();

function partHead(fileName: string, type: string, fields: Record<string, string> = {}) {
  let text = "";
  for (const [k, v] of Object.entries(fields))
    text += `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`;
  text += `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${fileName}"\r\nContent-Type: ${type}\r\n\r\n`;
  return enc.encode(text);
}
const tail = enc.encode(`\r\n--${BOUNDARY}--\r\n`);

function upload(token: string, body: BodyInit) {
  return ctx.app.handle(
    new Request("http://localhost/api/v1/uploads", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
      body,
      // @ts-expect-error Bun and undici need it for a streamed request body
      duplex: "half",
    }),
  );
}

const whole = (fileName: string, type: string, bytes: Uint8Array<ArrayBuffer>, fields?: Record<string, string>) =>
  new Blob([partHead(fileName, type, fields), bytes, tail]);

async function media(args: string[]): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array((await ffmpegCapture(args)).stdout);
}
const png = () =>
  media(["-f", "lavfi", "-i", "color=c=red:s=640x360", "-frames:v", "1", "-c:v", "png", "-f", "image2", "pipe:1"]);
const jpeg = () =>
  media(["-f", "lavfi", "-i", "color=c=blue:s=200x100", "-frames:v", "1", "-c:v", "mjpeg", "-f", "image2", "pipe:1"]);

const tmpDir = () => join(ctx.config.dataDir, "tmp", "uploads");
const leftovers = () => {
  try {
    return readdirSync(tmpDir());
  } catch {
    return [];
  }
};
const assetsOf = (userId: string) =>
  ctx.db.selectFrom("assets").select(["id", "storage_key"]).where("owner_id", "=", userId).execute();

describe("uploads", () => {
  test("a picture: sniffed, measured, thumbnailed, stored; its links serve the bytes", async () => {
    const me = await ctx.register("uploader");
    const bytes = await png();
    const res = await upload(me.token, whole("红色.png", "image/png", bytes));
    expect(res.status).toBe(201);
    const a = (await res.json()).data;
    expect(a).toMatchObject({ type: "image", mime_type: "image/png", file_name: "红色.png", width: 640, height: 360 });
    expect(a.size).toBe(bytes.length);
    expect(a.space_id).toBe(me.user.current_space_id);
    const file = await fetchSigned(ctx, a.url);
    expect(new Uint8Array(await file.arrayBuffer())).toEqual(bytes);
    const thumb = await fetchSigned(ctx, a.thumbnail_url);
    expect(thumb.headers.get("content-type")).toBe("image/jpeg");
    const path = join(ctx.config.dataDir, "thumb-check.jpg");
    await Bun.write(path, await thumb.arrayBuffer());
    const { stderr } = await ffmpegCapture(["-i", path, "-f", "null", "-"]);
    expect(stderr).toContain("320x180");
    expect(leftovers()).toEqual([]);

    const config = await ctx.call("GET", "/api/v1/uploads/config", { token: me.token });
    expect(config.json.data).toMatchObject({ max_file_bytes: 100 * 1024 * 1024, max_in_flight_per_user: 3 });
    expect(config.json.data.accepted.video).toContain("video/webm");
  });

  test("a video and a recording: their lengths; a video gets a thumbnail, a recording none", async () => {
    const me = await ctx.register("uploader");
    const mp4 = await media([
      "-f",
      "lavfi",
      "-i",
      "testsrc=size=320x240:rate=24:duration=1.5",
      "-pix_fmt",
      "yuv420p",
      "-c:v",
      "libx264",
      "-movflags",
      "frag_keyframe+empty_moov",
      "-f",
      "mp4",
      "pipe:1",
    ]);
    const video = (await (await upload(me.token, whole("clip.mp4", "video/mp4", mp4))).json()).data;
    expect(video).toMatchObject({ type: "video", mime_type: "video/mp4", width: 320, height: 240 });
    expect(video.duration_s).toBeCloseTo(1.5, 1);
    expect(video.thumbnail_url).not.toBeNull();
    const wav = await media(["-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-f", "wav", "pipe:1"]);
    const sound = (await (await upload(me.token, whole("take.wav", "audio/wav", wav))).json()).data;
    expect(sound).toMatchObject({ type: "audio", mime_type: "audio/wav", width: null, thumbnail_url: null });
    expect(sound.duration_s).toBeCloseTo(2, 1);
  });

  test("a renamed file, an unknown format, a bad project id: refused, nothing kept", async () => {
    const me = await ctx.register("uploader");
    const renamed = await upload(me.token, whole("holiday.mp4", "video/mp4", await jpeg()));
    expect(renamed.status).toBe(415);
    expect((await renamed.json()).error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    const text = await upload(me.token, whole("notes.png", "image/png", enc.encode("just some text, not a picture")));
    expect(text.status).toBe(415);
    const badId = await upload(me.token, whole("a.png", "image/png", await png(), { project_id: "nope" }));
    expect(badId.status).toBe(400);
    const other = await ctx.register("other");
    const theirs = await ctx.call("POST", "/api/v1/projects", {
      token: other.token,
      body: { name: "别人的", input_text: "一个关于海的故事。".repeat(10) },
    });
    expect(theirs.status).toBe(201);
    const notMine = await upload(
      me.token,
      whole("a.png", "image/png", await png(), { project_id: theirs.json.data.id }),
    );
    expect(notMine.status).toBe(404);
    const noFile = await upload(me.token, new Blob([enc.encode(`--${BOUNDARY}--\r\n`)]));
    expect(noFile.status).toBe(400);
    expect(await assetsOf(me.user.id)).toEqual([]);
    expect(leftovers()).toEqual([]);
  });

  test("100 MB + 1 byte is 413 while it streams, and leaves no file, row or slot behind", async () => {
    const me = await ctx.register("uploader");
    const chunk = new Uint8Array(1024 * 1024);
    chunk.set(await png());
    let sent = 0;
    const total = 100 * 1024 * 1024 + 1;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(partHead("big.png", "image/png"));
      },
      pull(c) {
        if (sent >= total) {
          c.enqueue(tail);
          c.close();
          return;
        }
        const n = Math.min(chunk.length, total - sent);
        c.enqueue(chunk.subarray(0, n));
        sent += n;
      },
    });
    const res = await upload(me.token, body);
    expect(res.status).toBe(413);
    expect((await res.json()).error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(await assetsOf(me.user.id)).toEqual([]);
    expect(leftovers()).toEqual([]);
    const slots = await ctx.db.selectFrom("upload_slots").select("id").where("user_id", "=", me.user.id).execute();
    expect(slots).toEqual([]);
  });

  test("an upload cut off half-way leaves nothing; a fourth upload in flight is 429 with Retry-After", async () => {
    const me = await ctx.register("uploader");
    const bytes = await png();
    const half = bytes.subarray(0, bytes.length >> 1);
    const held: Array<ReadableStreamDefaultController<Uint8Array>> = [];
    const open = () =>
      upload(
        me.token,
        new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(partHead("slow.png", "image/png"));
            c.enqueue(half);
            held.push(c);
          },
        }),
      );
    const three = [open(), open(), open()];
    await waitUntil("three uploads in flight", async () => {
      const rows = await ctx.db.selectFrom("upload_slots").select("id").where("user_id", "=", me.user.id).execute();
      return rows.length === 3;
    });
    const fourth = await upload(me.token, whole("d.png", "image/png", bytes));
    expect(fourth.status).toBe(429);
    expect(fourth.headers.get("retry-after")).toBe("5");
    expect((await fourth.json()).error.code).toBe("RATE_LIMITED");

    // Two finish; one is cut off.
    held[0]!.enqueue(bytes.subarray(bytes.length >> 1));
    held[0]!.enqueue(tail);
    held[0]!.close();
    held[1]!.enqueue(bytes.subarray(bytes.length >> 1));
    held[1]!.enqueue(tail);
    held[1]!.close();
    held[2]!.error(new Error("the client went away"));
    const [a, b, c] = await Promise.all(three);
    expect([a!.status, b!.status, c!.status]).toEqual([201, 201, 400]);
    expect(await assetsOf(me.user.id)).toHaveLength(2);
    expect(leftovers()).toEqual([]);
    const slots = await ctx.db.selectFrom("upload_slots").select("id").where("user_id", "=", me.user.id).execute();
    expect(slots).toEqual([]);
    // With the slots free again, the next upload goes through.
    expect((await upload(me.token, whole("e.png", "image/png", bytes))).status).toBe(201);
  });
});
