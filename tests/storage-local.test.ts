import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidStorageKey, StorageNotFound } from "../src/storage/types.ts";
import { createTestContext } from "./support/context.ts";

const ctx = await createTestContext();
const storage = ctx.deps.storage;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) % 256);

/** Fetches a signed URL through the app (path and query only). */
async function fetchLink(url: string, headers: Record<string, string> = {}, method = "GET") {
  const u = new URL(url);
  return ctx.app.handle(new Request(`http://localhost${u.pathname}${u.search}`, { method, headers }));
}

describe("local storage", () => {
  test("put from bytes, stream and file; sha256 and size recorded; get returns the bytes", async () => {
    const data = bytes(100_000);
    const a = await storage.put("projects/p1/a.bin", data, { contentType: "application/octet-stream" });
    expect(a).toMatchObject({ key: "projects/p1/a.bin", size: 100_000, sha256: sha(data) });
    expect(await storage.get("projects/p1/a.bin")).toEqual(data);
    const stream = new Blob([data.slice(0, 5000), data.slice(5000)]).stream();
    const b = await storage.put("projects/p1/b.bin", stream, { contentType: "video/mp4" });
    expect(b.sha256).toBe(sha(data));
    const file = join(mkdtempSync(join(tmpdir(), "inkreel-src-")), "in.txt");
    writeFileSync(file, "林小 said hello");
    const c = await storage.put("projects/p1/c.txt", { path: file }, { contentType: "text/plain; charset=utf-8" });
    expect(c.size).toBe(Buffer.byteLength("林小 said hello"));
    expect(await storage.stat("projects/p1/c.txt")).toMatchObject({
      contentType: "text/plain; charset=utf-8",
      sha256: c.sha256,
    });
    // Nothing is left behind in tmp/.
    expect(readdirSync(join(ctx.config.dataDir, "files", "tmp"))).toEqual([]);
  });

  test("stat of a missing key is null; get, stream of it throw StorageNotFound; delete is idempotent", async () => {
    expect(await storage.stat("nope/none.bin")).toBeNull();
    await expect(storage.get("nope/none.bin")).rejects.toBeInstanceOf(StorageNotFound);
    await expect(storage.stream("nope/none.bin")).rejects.toBeInstanceOf(StorageNotFound);
    await storage.put("del/x.bin", bytes(10), { contentType: "application/octet-stream" });
    await storage.delete("del/x.bin");
    await storage.delete("del/x.bin");
    expect(await storage.stat("del/x.bin")).toBeNull();
  });

  test("list by prefix", async () => {
    for (const k of ["shots/1/key.png", "shots/1/clip.mp4", "shots/12/key.png", "shots/2/key.png"]) {
      await storage.put(k, bytes(3), { contentType: "image/png" });
    }
    expect((await storage.list("shots/1/")).map((o) => o.key)).toEqual(["shots/1/clip.mp4", "shots/1/key.png"]);
    expect((await storage.list("shots/1")).map((o) => o.key)).toEqual([
      "shots/1/clip.mp4",
      "shots/1/key.png",
      "shots/12/key.png",
    ]);
    expect(await storage.list("nothing/here/")).toEqual([]);
  });

  test("keys that could leave the root are refused before touching the disk", async () => {
    for (const key of [
      "../etc/passwd",
      "/etc/passwd",
      "a/../../b",
      "a//b",
      "a/./b",
      "",
      "a\\..\\b",
      "a/b/",
      ".hidden",
      "a\u0000b",
    ]) {
      await expect(storage.put(key, bytes(1), { contentType: "text/plain" })).rejects.toBeInstanceOf(InvalidStorageKey);
      await expect(storage.signedUrl(key, 60)).rejects.toBeInstanceOf(InvalidStorageKey);
    }
    expect(existsSync(join(ctx.config.dataDir, "etc"))).toBe(false);
  });
});

describe("signed links", () => {
  const data = bytes(10_000);

  test("a signed link downloads the file without a token, with length, type and etag", async () => {
    const stored = await storage.put("exports/e1/video.mp4", data, { contentType: "video/mp4" });
    const { url, expiresAt } = await storage.signedUrl("exports/e1/video.mp4", 600, { downloadName: "我的视频.mp4" });
    expect(url.startsWith(`${ctx.config.publicUrl}/files/exports/e1/video.mp4?`)).toBe(true);
    expect(expiresAt.getTime()).toBeGreaterThan(Date.now() + 590_000);
    const res = await fetchLink(url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("video/mp4");
    expect(res.headers.get("content-length")).toBe("10000");
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    expect(res.headers.get("etag")).toBe(`"${stored.sha256}"`);
    expect(res.headers.get("content-disposition")).toContain(
      "filename*=UTF-8''%E6%88%91%E7%9A%84%E8%A7%86%E9%A2%91.mp4",
    );
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(data);
    const head = await fetchLink(url, {}, "HEAD");
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("10000");
  });

  test("Range requests answer 206 with exactly those bytes, so video seeks", async () => {
    await storage.put("exports/e2/video.mp4", data, { contentType: "video/mp4" });
    const { url } = await storage.signedUrl("exports/e2/video.mp4", 600);
    const cases: Array<[string, number, number]> = [
      ["bytes=0-99", 0, 99],
      ["bytes=9000-", 9000, 9999],
      ["bytes=-500", 9500, 9999],
      ["bytes=9990-20000", 9990, 9999],
    ];
    for (const [range, start, end] of cases) {
      const res = await fetchLink(url, { range });
      expect(res.status).toBe(206);
      expect(res.headers.get("content-range")).toBe(`bytes ${start}-${end}/10000`);
      expect(res.headers.get("content-length")).toBe(String(end - start + 1));
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(data.slice(start, end + 1));
    }
    for (const range of ["bytes=10000-", "bytes=5-2", "bytes=0-1,5-6", "items=0-1", "bytes=-0"]) {
      const res = await fetchLink(url, { range });
      expect(res.status).toBe(416);
      expect(res.headers.get("content-range")).toBe("bytes */10000");
      expect((await res.json()).error.code).toBe("RANGE_NOT_SATISFIABLE");
    }
  });

  test("tampered, foreign and expired links are 403; a deleted file is 404", async () => {
    await storage.put("exports/e3/video.mp4", data, { contentType: "video/mp4" });
    await storage.put("exports/e3/other.mp4", data, { contentType: "video/mp4" });
    const { url } = await storage.signedUrl("exports/e3/video.mp4", 600);
    const u = new URL(url);
    const tampered = [
      url.replace("video.mp4", "other.mp4"),
      url.replace(/expires=\d+/, `expires=${Number(u.searchParams.get("expires")) + 1000}`),
      url.replace(/sig=[^&]+/, "sig=AAAA"),
      url.replace(/&?sig=[^&]+/, ""),
      `${url}&download=evil.exe`,
    ];
    for (const link of tampered) {
      const res = await fetchLink(link);
      expect(res.status).toBe(403);
      expect((await res.json()).error.code).toBe("FORBIDDEN");
    }
    const expiredAt = Math.floor(Date.now() / 1000) - 5;
    const { signature } = await import("../src/storage/signing.ts");
    const expired = `/files/exports/e3/video.mp4?expires=${expiredAt}&sig=${signature(ctx.deps.fileLinkSecret!, "exports/e3/video.mp4", expiredAt)}`;
    const res = await ctx.app.handle(new Request(`http://localhost${expired}`));
    expect(res.status).toBe(403);
    expect((await res.json()).message).toContain("expired");
    await storage.delete("exports/e3/video.mp4");
    expect((await fetchLink(url)).status).toBe(404);
  });

  test("traversal through the link path never reaches outside the storage root", async () => {
    for (const path of [
      "/files/../../etc/passwd",
      "/files/%2e%2e/%2e%2e/etc/passwd",
      "/files/..%2f..%2fetc%2fpasswd",
    ]) {
      const res = await ctx.app.handle(new Request(`http://localhost${path}?expires=9999999999&sig=x`));
      expect([403, 404]).toContain(res.status);
      expect(await res.text()).not.toContain("root:");
    }
  });
});
