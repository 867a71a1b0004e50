// Storage full: the local storage root on a tiny tmpfs. An upload that does not fit answers
// STORAGE_ERROR 503 in the envelope, and neither a half-written file nor an asset row remains.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestContext } from "./support/context.ts";
import { mountTmpfs } from "./support/tmpfs.ts";

const dataDir = mkdtempSync(join(tmpdir(), "inkreel-chaos-full-"));
// Room for the storage's directories and signing secret and a small file, not for a big one.
await mountTmpfs(join(dataDir, "files"), 96 * 1024);
const ctx = await createTestContext({ DATA_DIR: dataDir });

/** Every regular file under `dir`, with its size. */
function filesUnder(dir: string): Array<{ path: string; size: number }> {
  const found: Array<{ path: string; size: number }> = [];
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isFile()) found.push({ path: name, size: st.size });
  }
  return found.sort((a, b) => a.path.localeCompare(b.path));
}

async function upload(token: string, file: File) {
  const form = new FormData();
  form.append("file", file);
  const res = await ctx.app.handle(
    new Request("http://localhost/api/v1/projects/upload", {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: form,
    }),
  );
  return { status: res.status, json: await res.json() };
}

const uploads = (projectId: string) =>
  ctx.db.selectFrom("assets").select(["storage_key", "size"]).where("project_id", "=", projectId).execute();

describe("the file storage is full", () => {
  test("an upload that does not fit answers 503 STORAGE_ERROR; no half-written file and no asset row remain", async () => {
    const me = await ctx.register("full");
    const line = "林小雨推开茶馆的门，外面下着小雨。周掌柜笑着问道：“你来了？今天还是老样子？”\n";
    // A small story fits: the storage works on this tmpfs.
    const small = await upload(me.token, new File([line.repeat(2)], "small.txt", { type: "text/plain" }));
    expect(small.status).toBe(201);
    const smallAssets = await uploads(small.json.data.id);
    expect(smallAssets).toHaveLength(1);
    const before = filesUnder(join(dataDir, "files"));

    // About 300 KB of story on a 96 KB disk.
    const big = line.repeat(2500);
    expect(new TextEncoder().encode(big).byteLength).toBeGreaterThan(3 * 96 * 1024);
    const res = await upload(me.token, new File([big], "big.txt", { type: "text/plain" }));
    expect(res.status).toBe(503);
    expect(res.json).toMatchObject({
      success: false,
      data: null,
      error: { code: "STORAGE_ERROR" },
    });
    expect(res.json.message).toContain("full");
    // Nothing of the failed upload is stored: not in objects/, meta/ or tmp/, and no asset row.
    expect(filesUnder(join(dataDir, "files"))).toEqual(before);
    const rows = await ctx.db
      .selectFrom("assets")
      .innerJoin("projects", "projects.id", "assets.project_id")
      .select(["assets.storage_key"])
      .where("projects.owner_id", "=", me.user.id)
      .execute();
    expect(rows.map((r) => r.storage_key)).toEqual(smallAssets.map((a) => a.storage_key));
    // The storage still takes what fits.
    const again = await upload(me.token, new File([line.repeat(2)], "again.txt", { type: "text/plain" }));
    expect(again.status).toBe(201);
    expect(await uploads(again.json.data.id)).toHaveLength(1);
  });
});
