import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sampleTimeline } from "../scripts/bench-render/sample.ts";
import { ComposeError } from "../src/media/compose-error.ts";
import { composeToStorage } from "../src/media/publish.ts";
import type { Timeline } from "../src/media/timeline.ts";
import { createLocalStorage } from "../src/storage/local.ts";
import type { Storage } from "../src/storage/types.ts";

const dir = mkdtempSync(join(tmpdir(), "inkreel-publish-"));
const storage = await createLocalStorage({
  root: join(dir, "files"),
  signingSecret: "s".repeat(32),
  publicUrl: "http://localhost:3000",
});
let timeline: Timeline;

beforeAll(async () => {
  timeline = await sampleTimeline(dir, { shots: 2, shotS: 2 });
});

describe("composing into storage", () => {
  test("the video, its three subtitle files and the cover are stored with their types", async () => {
    const { result, objects } = await composeToStorage(storage, "exports/e1", timeline, {
      cacheDir: join(dir, "cache"),
    });
    expect(Object.keys(objects).sort()).toEqual(["ass", "cover", "srt", "video", "vtt"]);
    expect(objects.video).toMatchObject({ key: "exports/e1/video.mp4", contentType: "video/mp4" });
    expect(objects.cover!.contentType).toBe("image/jpeg");
    expect(objects.vtt!.contentType).toBe("text/vtt");
    expect(objects.video!.size).toBeGreaterThan(10_000);
    expect((await storage.stat("exports/e1/video.mp4"))?.sha256).toBe(objects.video!.sha256);
    expect(new TextDecoder().decode(await storage.get("exports/e1/subtitles.srt"))).toContain("-->");
    expect(result.segments.rendered).toBe(2);
  });

  test("bad input stores nothing", async () => {
    const broken = structuredClone(timeline);
    broken.shots[1]!.durationS = 0;
    const error = await composeToStorage(storage, "exports/e2", broken, { cacheDir: join(dir, "cache") }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ComposeError);
    expect((error as ComposeError).shotId).toBe(broken.shots[1]!.id);
    expect(await storage.list("exports/e2")).toEqual([]);
  });

  test("an upload that fails midway removes what was already uploaded", async () => {
    let puts = 0;
    // The real local storage, with a fault injected on the third upload (a full disk, say).
    const failing: Storage = {
      ...storage,
      put: async (key, body, options) => {
        if (++puts === 3) throw new Error("disk full");
        return storage.put(key, body, options);
      },
    };
    await expect(composeToStorage(failing, "exports/e3", timeline, { cacheDir: join(dir, "cache") })).rejects.toThrow(
      "disk full",
    );
    expect(puts).toBe(3);
    expect(await storage.list("exports/e3")).toEqual([]);
  });
});
