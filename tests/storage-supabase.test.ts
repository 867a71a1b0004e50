// The Supabase Storage driver, through the real supabase-js, against a local server that speaks
// Storage's REST wire format (tests/support/fake-supabase-storage.ts).
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSupabaseStorage, SupabaseStorageError } from "../src/storage/supabase.ts";
import { InvalidStorageKey, type Storage, StorageNotFound } from "../src/storage/types.ts";
import { startFakeSupabaseStorage } from "./support/fake-supabase-storage.ts";
import { rejection } from "./support/rejection.ts";

const fake = await startFakeSupabaseStorage();
afterAll(() => fake.stop());
const storage = createSupabaseStorage({ url: fake.url, serviceKey: fake.serviceKey, bucket: fake.bucket });

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
/** Deterministic, non-repeating bytes. */
function bytes(n: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}
/** A key of its own for each test, so tests never see each other's objects. */
const dir = () => `t/${crypto.randomUUID()}`;
const objectPath = (key: string) => `/storage/v1/object/${fake.bucket}/${key}`;
const drain = (s: ReadableStream<Uint8Array>) => new Response(s).bytes();

const lastRequest = (match: (r: (typeof fake.requests)[number]) => boolean) => fake.requests.filter(match).at(-1);

describe("put and get", () => {
  test("bytes round-trip; the upload is an upsert carrying type, sha256 and the service key", async () => {
    const key = `${dir()}/shot-1.png`;
    const data = bytes(5000);
    const before = Date.now();
    const stored = await storage.put(key, data, { contentType: "image/png" });
    expect(stored).toMatchObject({ key, size: 5000, sha256: sha256(data), contentType: "image/png" });
    expect(stored.updatedAt.getTime()).toBeGreaterThanOrEqual(before);

    const [upload] = fake.requests.filter((r) => r.method === "POST" && r.path === objectPath(key));
    expect(upload?.headers).toMatchObject({
      "x-upsert": "true",
      "content-type": "image/png",
      apikey: fake.serviceKey,
      authorization: `Bearer ${fake.serviceKey}`,
    });
    expect(upload?.body).toBe(5000);
    expect(JSON.parse(Buffer.from(upload!.headers["x-metadata"]!, "base64").toString())).toEqual({
      sha256: sha256(data),
    });
    expect(fake.object(key)?.bytes).toEqual(data);

    const got = await storage.get(key);
    expect(got).toEqual(data);
    expect(sha256(got)).toBe(stored.sha256);
    const download = fake.requests.find((r) => r.method === "GET" && r.path === objectPath(key));
    expect(download?.headers.authorization).toBe(`Bearer ${fake.serviceKey}`);
  });

  test("putting the same key again replaces the object", async () => {
    const key = `${dir()}/a.txt`;
    await storage.put(key, new TextEncoder().encode("first"), { contentType: "text/plain" });
    const second = await storage.put(key, new TextEncoder().encode("second, longer"), { contentType: "text/markdown" });
    expect(second).toMatchObject({ size: 14, sha256: sha256(new TextEncoder().encode("second, longer")) });
    expect(new TextDecoder().decode(await storage.get(key))).toBe("second, longer");
    expect(await storage.stat(key)).toMatchObject({ size: 14, contentType: "text/markdown", sha256: second.sha256 });
  });

  test("a ReadableStream body is stored whole, with the sha256 and size of all its chunks", async () => {
    const key = `${dir()}/voice.wav`;
    const chunks = [bytes(1000, 2), bytes(1, 3), bytes(70_000, 4), bytes(333, 5)];
    const whole = new Uint8Array(await new Blob(chunks as Uint8Array<ArrayBuffer>[]).arrayBuffer());
    let i = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (i < chunks.length) controller.enqueue(chunks[i++]!);
        else controller.close();
      },
    });
    const stored = await storage.put(key, stream, { contentType: "audio/wav" });
    expect(stored).toMatchObject({ key, size: 71_334, sha256: sha256(whole), contentType: "audio/wav" });
    expect(await storage.get(key)).toEqual(whole);
    expect(fake.object(key)?.contentType).toBe("audio/wav");
  });

  test("a {path} body uploads the file's bytes", async () => {
    const tmp = await mkdtemp(join(tmpdir(), "inkreel-sb-"));
    try {
      const data = bytes(12_345, 6);
      await writeFile(join(tmp, "clip.mp4"), data);
      const key = `${dir()}/clip.mp4`;
      const stored = await storage.put(key, { path: join(tmp, "clip.mp4") }, { contentType: "video/mp4" });
      expect(stored).toMatchObject({ size: 12_345, sha256: sha256(data) });
      expect(await storage.get(key)).toEqual(data);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});

describe("stat", () => {
  test("reports size, type, sha256 and time of a stored object, null for a missing one", async () => {
    const key = `${dir()}/cover.jpg`;
    const data = bytes(2048, 7);
    const stored = await storage.put(key, data, { contentType: "image/jpeg" });
    const stat = await storage.stat(key);
    expect(stat).toMatchObject({ key, size: 2048, sha256: sha256(data), contentType: "image/jpeg" });
    expect(Math.abs(stat!.updatedAt.getTime() - stored.updatedAt.getTime())).toBeLessThan(5000);
    expect(fake.calls(`/object/info/${fake.bucket}/${key}`, "GET").length).toBe(1);

    expect(await storage.stat(`${dir()}/missing.jpg`)).toBeNull();
  });

  test("an object written by something else (no sha256 in its metadata) is hashed from its bytes", async () => {
    const key = `${dir()}/foreign.bin`;
    const data = bytes(3000, 8);
    fake.putRaw(key, data, "application/octet-stream");
    expect(await storage.stat(key)).toMatchObject({
      key,
      size: 3000,
      sha256: sha256(data),
      contentType: "application/octet-stream",
    });
  });
});

describe("stream", () => {
  const key = `${dir()}/video.mp4`;
  const data = bytes(10_000, 9);
  const ready = storage.put(key, data, { contentType: "video/mp4" });

  test("the whole object, with its size and type", async () => {
    await ready;
    const s = await storage.stream(key);
    expect(s).toMatchObject({ size: 10_000, contentType: "video/mp4", range: null });
    expect(await drain(s.stream)).toEqual(data);
  });

  test("a byte range returns exactly those bytes, asked of Storage with a Range header", async () => {
    await ready;
    const before = fake.requests.length;
    const s = await storage.stream(key, { start: 1000, end: 1999 });
    expect(s).toMatchObject({ size: 10_000, contentType: "video/mp4", range: { start: 1000, end: 1999 } });
    const got = await drain(s.stream);
    expect(got.byteLength).toBe(1000);
    expect(got).toEqual(data.slice(1000, 2000));
    const ranged = fake.requests.slice(before).find((r) => r.method === "GET" && r.path === objectPath(key));
    expect(ranged?.headers.range).toBe("bytes=1000-1999");

    const one = await storage.stream(key, { start: 0, end: 0 });
    expect(await drain(one.stream)).toEqual(data.slice(0, 1));
    const last = await storage.stream(key, { start: 9999, end: 9999 });
    expect(await drain(last.stream)).toEqual(data.slice(9999));
  });

  test("a range running past the end is cut at the last byte; one starting past it is refused", async () => {
    await ready;
    const s = await storage.stream(key, { start: 9000, end: 20_000 });
    expect(s.range).toEqual({ start: 9000, end: 9999 });
    expect(await drain(s.stream)).toEqual(data.slice(9000));
    expect(await rejection(storage.stream(key, { start: 10_000, end: 10_005 }))).toBeInstanceOf(RangeError);
    expect(await rejection(storage.stream(key, { start: 50, end: 10 }))).toBeInstanceOf(RangeError);
  });

  test("when the server ignores Range and sends the whole object, the range is sliced out of it", async () => {
    await ready;
    fake.settings.ignoreRange = true;
    try {
      const s = await storage.stream(key, { start: 4321, end: 8765 });
      expect(await drain(s.stream)).toEqual(data.slice(4321, 8766));
      expect(s.range).toEqual({ start: 4321, end: 8765 });
    } finally {
      fake.settings.ignoreRange = false;
    }
  });

  test("a missing object is StorageNotFound", async () => {
    expect(await rejection(storage.stream(`${dir()}/nope.mp4`))).toBeInstanceOf(StorageNotFound);
    expect(await rejection(storage.stream(`${dir()}/nope.mp4`, { start: 0, end: 10 }))).toBeInstanceOf(StorageNotFound);
  });
});

describe("list", () => {
  test("by prefix: folder prefixes, partial names and sub-folders, sorted by key", async () => {
    const root = dir();
    const keys = [
      `${root}/shots/1.png`,
      `${root}/shots/2.png`,
      `${root}/shots/deep/3.png`,
      `${root}/shots-old/4.png`,
      `${root}/audio/5.wav`,
    ];
    const put = new Map<string, string>();
    for (const [i, k] of keys.entries()) {
      const b = bytes(100 + i, 20 + i);
      put.set(k, sha256(b));
      await storage.put(k, b, { contentType: k.endsWith(".wav") ? "audio/wav" : "image/png" });
    }

    const shots = await storage.list(`${root}/shots/`);
    expect(shots.map((o) => o.key)).toEqual([`${root}/shots/1.png`, `${root}/shots/2.png`, `${root}/shots/deep/3.png`]);
    for (const o of shots) expect(o).toMatchObject({ sha256: put.get(o.key)!, contentType: "image/png" });
    expect(shots.map((o) => o.size)).toEqual([100, 101, 102]);

    // Not on a segment boundary: "shots" also matches "shots-old/".
    expect((await storage.list(`${root}/shots`)).map((o) => o.key)).toEqual([
      `${root}/shots-old/4.png`,
      `${root}/shots/1.png`,
      `${root}/shots/2.png`,
      `${root}/shots/deep/3.png`,
    ]);
    expect((await storage.list(`${root}/shots/2`)).map((o) => o.key)).toEqual([`${root}/shots/2.png`]);
    expect((await storage.list(`${root}/`)).length).toBe(5);
    expect(await storage.list(`${root}/video/`)).toEqual([]);

    // Storage's list is asked for the prefix's folder, with the last segment as its search.
    const calls = fake
      .calls(`/object/list/${fake.bucket}`)
      .filter((r) => (r.body as { prefix: string }).prefix.startsWith(`${root}/shots`));
    expect(calls[0]?.body).toMatchObject({ prefix: `${root}/shots`, search: "", limit: 100, offset: 0 });
  });

  test("pages through folders larger than one listing page", async () => {
    const root = dir();
    const keys = Array.from({ length: 105 }, (_, i) => `${root}/f/${String(i).padStart(3, "0")}.txt`);
    await Promise.all(keys.map((k) => storage.put(k, new TextEncoder().encode(k), { contentType: "text/plain" })));
    const listed = await storage.list(`${root}/f/`);
    expect(listed.map((o) => o.key)).toEqual(keys);
    expect(listed[104]).toMatchObject({
      size: keys[104]!.length,
      sha256: sha256(new TextEncoder().encode(keys[104]!)),
    });
    const pages = fake
      .calls(`/object/list/${fake.bucket}`)
      .filter((r) => (r.body as { prefix: string }).prefix === `${root}/f`);
    expect(pages.map((r) => (r.body as { offset: number }).offset)).toEqual([0, 100]);
  });
});

describe("delete", () => {
  test("then get, stream and stat see nothing; deleting again is fine", async () => {
    const key = `${dir()}/gone.png`;
    await storage.put(key, bytes(10), { contentType: "image/png" });
    await storage.delete(key);
    const del = lastRequest((r) => r.method === "DELETE");
    expect(del?.path).toBe(`/storage/v1/object/${fake.bucket}`);
    expect(del?.body).toEqual({ prefixes: [key] });
    expect(fake.object(key)).toBeNull();

    const err = await rejection(storage.get(key));
    expect(err).toBeInstanceOf(StorageNotFound);
    expect((err as StorageNotFound).key).toBe(key);
    expect(await storage.stat(key)).toBeNull();
    expect(await rejection(storage.stream(key))).toBeInstanceOf(StorageNotFound);
    await storage.delete(key);
  });

  test("Storage's not-found is an HTTP 400 with statusCode 404, which the driver still maps", async () => {
    const key = `${dir()}/never.png`;
    const res = await fetch(`${fake.url}${objectPath(key)}`, {
      headers: { apikey: fake.serviceKey, authorization: `Bearer ${fake.serviceKey}` },
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      statusCode: "404",
      code: "NoSuchKey",
      error: "not_found",
      message: "Object not found",
    });
    expect(await rejection(storage.get(key))).toBeInstanceOf(StorageNotFound);
  });
});

describe("signedUrl", () => {
  test("the URL serves the bytes without any key, supports Range, and expires when it says", async () => {
    const key = `${dir()}/final.mp4`;
    const data = bytes(4096, 30);
    await storage.put(key, data, { contentType: "video/mp4" });
    const before = Date.now();
    const { url, expiresAt } = await storage.signedUrl(key, 60);
    expect(url.startsWith(`${fake.url}/storage/v1/object/sign/${fake.bucket}/${key}?token=`)).toBe(true);
    expect(expiresAt.getTime()).toBeGreaterThanOrEqual(before + 60_000);
    expect(expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 60_000);
    expect(fake.calls(`/object/sign/${fake.bucket}/${key}`, "POST")[0]?.body).toMatchObject({ expiresIn: 60 });

    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("video/mp4");
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(data);
    expect(lastRequest((r) => r.method === "GET" && r.path.includes("/object/sign/"))?.headers.apikey).toBeUndefined();

    const part = await fetch(url, { headers: { range: "bytes=100-199" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe("bytes 100-199/4096");
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(data.slice(100, 200));
  });

  test("a download name makes the URL an attachment with that name", async () => {
    const key = `${dir()}/render.mp4`;
    await storage.put(key, bytes(64), { contentType: "video/mp4" });
    const { url } = await storage.signedUrl(key, 60, { downloadName: "my-story.mp4" });
    expect(new URL(url).searchParams.get("download")).toBe("my-story.mp4");
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="my-story.mp4"');
  });

  test("an expired URL is refused", async () => {
    const key = `${dir()}/short.png`;
    const data = bytes(128, 31);
    await storage.put(key, data, { contentType: "image/png" });
    const { url, expiresAt } = await storage.signedUrl(key, 1);
    expect(expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(1000);
    expect((await fetch(url)).status).toBe(200);
    // The token's exp is in whole seconds: two seconds later it has passed for certain (on the
    // fake's clock, moved ahead instead of waiting).
    fake.settings.clockAheadMs = 2100;
    const res = await fetch(url).finally(() => {
      fake.settings.clockAheadMs = 0;
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { statusCode: string; code: string };
    expect(body).toMatchObject({ statusCode: "400", code: "InvalidJWT" });
  });

  test("a tampered token, or a token for another object, is refused", async () => {
    const key = `${dir()}/a.png`;
    const other = `${dir()}/b.png`;
    await storage.put(key, bytes(32), { contentType: "image/png" });
    await storage.put(other, bytes(32, 2), { contentType: "image/png" });
    const { url } = await storage.signedUrl(key, 60);
    const token = new URL(url).searchParams.get("token")!;
    const flipped = token.slice(0, -2) + (token.at(-2) === "A" ? "B" : "A") + token.at(-1);
    expect((await fetch(url.replace(token, flipped))).status).toBe(400);
    expect((await fetch(`${fake.url}/storage/v1/object/sign/${fake.bucket}/${other}?token=${token}`)).status).toBe(400);
  });

  test("signing a missing object is StorageNotFound", async () => {
    expect(await rejection(storage.signedUrl(`${dir()}/none.png`, 60))).toBeInstanceOf(StorageNotFound);
  });
});

describe("invalid keys", () => {
  test("are refused before any request is made", async () => {
    const before = fake.requests.length;
    const bad = ["../etc/passwd", "/abs", "a//b", "a/../b", "", "a/./b", "trailing/", "back\\slash", "nul\u0000byte"];
    for (const key of bad) {
      // Called one at a time, so no rejected promise waits unobserved.
      const attempts: Array<() => Promise<unknown>> = [
        () => storage.put(key, bytes(4), { contentType: "text/plain" }),
        () => storage.get(key),
        () => storage.stream(key),
        () => storage.stream(key, { start: 0, end: 1 }),
        () => storage.stat(key),
        () => storage.delete(key),
        () => storage.signedUrl(key, 60),
      ];
      for (const attempt of attempts) {
        const err = await rejection(attempt());
        expect(err).toBeInstanceOf(InvalidStorageKey);
        expect((err as InvalidStorageKey).key).toBe(key);
      }
    }
    expect(await rejection(storage.list("../etc/"))).toBeInstanceOf(InvalidStorageKey);
    expect(await rejection(storage.list("a//b/"))).toBeInstanceOf(InvalidStorageKey);
    expect(fake.requests.length).toBe(before);
  });
});

describe("errors and health", () => {
  test("check() is true against a live Storage and false once it is gone", async () => {
    const own = await startFakeSupabaseStorage();
    const s = createSupabaseStorage({ url: own.url, serviceKey: own.serviceKey, bucket: own.bucket });
    try {
      expect(await s.check()).toBe(true);
      expect(own.calls(`/object/list/${own.bucket}`)[0]?.body).toMatchObject({ prefix: "", limit: 1 });
    } finally {
      own.stop();
    }
    expect(await s.check()).toBe(false);
    // Other calls fail loudly, and not as "not found".
    const err = await rejection(s.get("a.png"));
    expect(err).not.toBeInstanceOf(StorageNotFound);
  });

  test("a wrong service key fails every call and check()", async () => {
    const wrong = createSupabaseStorage({ url: fake.url, serviceKey: "sb_secret_wrong", bucket: fake.bucket });
    expect(await wrong.check()).toBe(false);
    const err = await rejection(wrong.put(`${dir()}/x.png`, bytes(4), { contentType: "image/png" }));
    expect(err).toBeInstanceOf(SupabaseStorageError);
    expect((err as SupabaseStorageError).status).toBe(401);
  });

  test("a missing bucket is a SupabaseStorageError, not StorageNotFound", async () => {
    const elsewhere: Storage = createSupabaseStorage({
      url: fake.url,
      serviceKey: fake.serviceKey,
      bucket: "no-such-bucket",
    });
    expect(await elsewhere.check()).toBe(false);
    // One call at a time: a promise created before it is awaited could reject unobserved.
    for (const call of [
      () => elsewhere.get("a.png"),
      () => elsewhere.stat("a.png"),
      () => elsewhere.put("a.png", bytes(1), { contentType: "image/png" }),
    ]) {
      const err = await rejection(call());
      expect(err).toBeInstanceOf(SupabaseStorageError);
      expect((err as SupabaseStorageError).code).toBe("NoSuchBucket");
    }
  });

  test("the driver reports itself as supabase", () => {
    expect(storage.driver).toBe("supabase");
  });
});

describe("configured as the app's storage", () => {
  test("STORAGE_DRIVER=supabase: the app stores through Supabase, health checks it, and /files does not exist", async () => {
    const { createTestContext } = await import("./support/context.ts");
    const app = await createTestContext({
      STORAGE_DRIVER: "supabase",
      SUPABASE_URL: fake.url,
      SUPABASE_ANON_KEY: "anon",
      SUPABASE_SERVICE_ROLE_KEY: fake.serviceKey,
      SUPABASE_STORAGE_BUCKET: fake.bucket,
    });
    expect(app.deps.storage.driver).toBe("supabase");
    expect(app.deps.fileLinkSecret).toBeNull();
    const key = `${dir()}/wired.bin`;
    await app.deps.storage.put(key, bytes(64), { contentType: "application/octet-stream" });
    expect(fake.requests.some((r) => r.method === "POST" && r.path === objectPath(key))).toBe(true);
    const health = await app.call("GET", "/health");
    expect(health.json.data.storage).toBe("connected");
    expect((await app.call("GET", `/files/${key}?expires=9999999999&sig=x`)).status).toBe(404);
  });
});
