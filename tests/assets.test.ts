// The asset lifecycle (seed 000): list and read assets of one's spaces, download links, trash and
// restore, the purge of the trash by the maintenance cron job on the queue (an asset in use is
// kept), and the ADMIN's permanent delete confirmed by a token (409 while in use).
import { describe, expect, test } from "bun:test";
import { maintenanceHandlers } from "../src/jobs/maintenance.ts";
import { createWorker, enqueue } from "../src/queue/index.ts";
import { ffmpegCapture } from "./support/media.ts";
import { completedProject, fetchSigned, pipelineContext, waitUntil } from "./support/pipeline.ts";

// Trash is purged at the next sweep.
const ctx = await pipelineContext({ ASSET_TRASH_RETENTION_DAYS: "0" });
await ctx.startWorker();
const BOUNDARY = "inkreel-assets-boundary";

async function uploadPicture(token: string): Promise<string> {
  const png = (
    await ffmpegCapture([
      "-f",
      "lavfi",
      "-i",
      "color=c=green:s=64x64",
      "-frames:v",
      "1",
      "-c:v",
      "png",
      "-f",
      "image2",
      "pipe:1",
    ])
  ).stdout;
  const head = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="green.png"\r\nContent-Type: image/png\r\n\r\n`;
  const res = await ctx.app.handle(
    new Request("http://localhost/api/v1/uploads", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
      body: new Blob([head, new Uint8Array(png), `\r\n--${BOUNDARY}--\r\n`]),
    }),
  );
  expect(res.status).toBe(201);
  return (await res.json()).data.id;
}

// The pipeline worker takes the maintenance queue's file removals but not its upkeep jobs: the
// purge runs on a queue of its own here, by a worker with the maintenance handlers.
const PURGE_QUEUE = "maintenance-purge-test";

/** Runs the trash purge as the cron job would: the maintenance job on the queue, then its file removals. */
async function purgeByCron(): Promise<{ purged: number; in_use: number }> {
  const worker = createWorker({
    connectionString: ctx.url,
    handlers: maintenanceHandlers(ctx.db, ctx.config),
    queues: [PURGE_QUEUE],
    concurrency: 1,
    pollIntervalMs: 100,
    log: ctx.deps.log,
  });
  await worker.start();
  try {
    const job = await enqueue(ctx.db, { kind: "maintenance.purge_trash", queue: PURGE_QUEUE });
    const done = await waitUntil("the purge job", () =>
      ctx.db.selectFrom("job_history").select(["state", "result"]).where("id", "=", job.id).executeTakeFirst(),
    );
    expect(done.state).toBe("completed");
    // Then every file removal it queued.
    await waitUntil("the file removals", async () => {
      const left = await ctx.db.selectFrom("jobs").select("id").where("kind", "=", "storage.delete_keys").execute();
      return left.length === 0;
    });
    return done.result as { purged: number; in_use: number };
  } finally {
    await worker.stop();
  }
}

describe("assets", () => {
  test("listed by project, type and status for members only; read and downloaded with signed links", async () => {
    const me = await ctx.register("owner");
    const { project } = await completedProject(ctx, me.token);
    const list = await ctx.call("GET", `/api/v1/assets?project_id=${project.id}&type=image&page_size=100`, {
      token: me.token,
    });
    expect(list.status).toBe(200);
    const items = list.json.data.items;
    expect(items.length).toBeGreaterThan(0);
    expect(items.every((a: { type: string; status: string }) => a.type === "image" && a.status === "active")).toBe(
      true,
    );
    expect(items.map((a: { kind: string }) => a.kind)).toContain("keyframe");
    expect(JSON.stringify(list.json.data)).not.toContain("storage_key");

    const one = await ctx.call("GET", `/api/v1/assets/${items[0].id}`, { token: me.token });
    expect(one.status).toBe(200);
    const link = await ctx.call("GET", `/api/v1/assets/${items[0].id}/download`, { token: me.token });
    expect((await fetchSigned(ctx, link.json.data.download_url)).status).toBe(200);
    expect((await ctx.call("GET", `/api/v1/assets/${items[0].id}`, { token: me.token })).json.data.download_count).toBe(
      1,
    );

    const stranger = await ctx.register("stranger");
    const theirs = await ctx.call("GET", `/api/v1/assets?project_id=${project.id}`, { token: stranger.token });
    expect(theirs.json.data.total).toBe(0);
    for (const path of [`/api/v1/assets/${items[0].id}`, `/api/v1/assets/${items[0].id}/download`]) {
      expect((await ctx.call("GET", path, { token: stranger.token })).status).toBe(404);
    }
    expect((await ctx.call("POST", `/api/v1/assets/${items[0].id}/trash`, { token: stranger.token })).status).toBe(404);
    expect((await ctx.call("GET", "/api/v1/assets?status=gone", { token: me.token })).status).toBe(400);
  });

  test("trash → restore → trash → purged by the cron job: row and file gone; an asset in use stays", async () => {
    const me = await ctx.register("owner");
    const id = await uploadPicture(me.token);
    const key = (await ctx.db.selectFrom("assets").select("storage_key").where("id", "=", id).executeTakeFirstOrThrow())
      .storage_key;
    const trashed = await ctx.call("POST", `/api/v1/assets/${id}/trash`, { token: me.token });
    expect(trashed.json.data).toMatchObject({ status: "trashed" });
    const inTrash = await ctx.call("GET", "/api/v1/assets?status=trashed", { token: me.token });
    expect(inTrash.json.data.items.map((a: { id: string }) => a.id)).toEqual([id]);
    const active = await ctx.call("GET", "/api/v1/assets", { token: me.token });
    expect(active.json.data.items.map((a: { id: string }) => a.id)).not.toContain(id);
    const restored = await ctx.call("POST", `/api/v1/assets/${id}/restore`, { token: me.token });
    expect(restored.json.data).toMatchObject({ status: "active", trashed_at: null });
    expect((await ctx.call("POST", `/api/v1/assets/${id}/trash`, { token: me.token })).status).toBe(200);

    // A keyframe its package uses, trashed too: the purge leaves it.
    const { project } = await completedProject(ctx, me.token);
    const used = await ctx.db
      .selectFrom("assets")
      .select("id")
      .where("project_id", "=", project.id)
      .where("kind", "=", "keyframe")
      .executeTakeFirstOrThrow();
    expect((await ctx.call("POST", `/api/v1/assets/${used.id}/trash`, { token: me.token })).status).toBe(200);

    const result = await purgeByCron();
    expect(result.purged).toBeGreaterThanOrEqual(1);
    expect(result.in_use).toBeGreaterThanOrEqual(1);
    expect(await ctx.db.selectFrom("assets").select("id").where("id", "=", id).executeTakeFirst()).toBeUndefined();
    expect(await ctx.deps.storage.stat(key)).toBeNull();
    const kept = await ctx.db.selectFrom("assets").select("trashed_at").where("id", "=", used.id).executeTakeFirst();
    expect(kept?.trashed_at).not.toBeNull();
  });

  test("the ADMIN's permanent delete: a token first, then the delete; 409 naming who uses it", async () => {
    const admin = await ctx.register("admin");
    await ctx.db.updateTable("users").set({ role: "ADMIN" }).where("id", "=", admin.user.id).execute();
    const user = await ctx.register("owner");
    const spare = await uploadPicture(user.token);

    expect((await ctx.call("DELETE", `/api/v1/assets/${spare}`, { token: user.token })).status).toBe(403);
    const first = await ctx.call("DELETE", `/api/v1/assets/${spare}`, { token: admin.token });
    expect(first.status).toBe(200);
    expect(first.json.data).toMatchObject({ deleted: false });
    const wrong = await ctx.call("DELETE", `/api/v1/assets/${spare}?confirm_token=not-it`, { token: admin.token });
    expect(wrong.status).toBe(403);
    const gone = await ctx.call("DELETE", `/api/v1/assets/${spare}?confirm_token=${first.json.data.confirm_token}`, {
      token: admin.token,
    });
    expect(gone.json.data).toMatchObject({ deleted: true });
    expect(await ctx.db.selectFrom("assets").select("id").where("id", "=", spare).executeTakeFirst()).toBeUndefined();
    // A token is good for one delete.
    const again = await ctx.call("DELETE", `/api/v1/assets/${spare}?confirm_token=${first.json.data.confirm_token}`, {
      token: admin.token,
    });
    expect(again.status).toBe(404);

    const { run } = await completedProject(ctx, user.token);
    const video = await ctx.db
      .selectFrom("exports")
      .select("files")
      .where("id", "=", run.export_id)
      .executeTakeFirstOrThrow();
    const used = video.files.find((f) => f.file_type === "video")!.asset_id;
    const token = (await ctx.call("DELETE", `/api/v1/assets/${used}`, { token: admin.token })).json.data.confirm_token;
    const refused = await ctx.call("DELETE", `/api/v1/assets/${used}?confirm_token=${token}`, { token: admin.token });
    expect(refused.status).toBe(409);
    expect(refused.json.error.details.used_by).toContainEqual({ type: "export", id: run.export_id });
    expect(await ctx.db.selectFrom("assets").select("id").where("id", "=", used).executeTakeFirst()).toBeDefined();
  });
});
