import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../src/app.ts";
import { createDb } from "../src/db/client.ts";
import { freePort } from "../src/db/embedded.ts";
import { createLocalStorage } from "../src/storage/local.ts";
import { createTestContext } from "./support/context.ts";

const ctx = await createTestContext();

describe("health when a dependency is down", () => {
  test("503 degraded with database disconnected when Postgres cannot be reached", async () => {
    const port = await freePort();
    const deadDb = createDb(`postgres://nobody:x@127.0.0.1:${port}/none`, { connectionTimeoutMillis: 500 });
    const app = createApp({ ...ctx.deps, db: deadDb });
    const res = await app.handle(new Request("http://localhost/health"));
    expect(res.status).toBe(503);
    const body = await res.json();
    expect(body.success).toBe(false);
    expect(body.data).toMatchObject({ status: "degraded", database: "disconnected", storage: "connected" });
    await deadDb.destroy();
  });

  test("503 with storage disconnected when the storage root is gone", async () => {
    const root = mkdtempSync(join(tmpdir(), "inkreel-gone-"));
    const storage = await createLocalStorage({ root, publicUrl: "http://localhost" });
    rmSync(root, { recursive: true, force: true });
    const app = createApp({ ...ctx.deps, storage });
    const res = await app.handle(new Request("http://localhost/health"));
    expect(res.status).toBe(503);
    expect((await res.json()).data).toMatchObject({
      status: "degraded",
      database: "connected",
      storage: "disconnected",
    });
  });
});
