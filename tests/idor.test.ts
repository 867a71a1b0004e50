// Insecure direct object references, tested from the app's own route table: every route with a
// resource id in its path is called by user B with the ids of things user A owns (a team space
// with a finished project in it: its run, package, export, asset, clip, line, an invite, a member,
// A's user and jobs) and a body its schema accepts. B is in none of A's spaces, so every answer is
// 404 NOT_FOUND, word for word what a made-up id gets (a 403 would confirm the id exists), except
// on ADMIN-only routes, which refuse a plain USER with 403 before looking at the id. Nothing of A's
// may change. A new route whose path parameter the fixture cannot fill fails the first test.

import { describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { attachmentFixture, batchFixture, libraryItems, workFixture } from "./support/library-fixture.ts";
import { completedProject, pipelineContext } from "./support/pipeline.ts";
import { key, paramNames, pathFor, type Route, routeTable, send } from "./support/route-table.ts";

const ctx = await pipelineContext();
const worker = await ctx.startWorker();

/** Path parameters that name no stored resource, with why. */
const NOT_RESOURCE_IDS: Record<string, string> = {
  "GET /swagger/assets/:file": "a file of the API docs' static bundle",
  "GET /api/v1/users/:id/works": "a public profile: a user's published works are for everyone (tests/square.test.ts)",
};

const table = routeTable(ctx.app);
const withIds = table.filter((r) => r.path.includes("/:") && !(key(r) in NOT_RESOURCE_IDS));

interface Fixture {
  a: Awaited<ReturnType<typeof ctx.register>>;
  b: Awaited<ReturnType<typeof ctx.register>>;
  spaceId: string;
  projectId: string;
  runId: string;
  memberIds: string[];
  /** A real id for every path parameter, by the noun before `:id` or by the parameter's name. */
  ids: Record<string, string>;
}

async function build(): Promise<Fixture> {
  const a = await ctx.register("alice");
  const space = await ctx.call("POST", "/api/v1/spaces", { token: a.token, body: { name: "A 的工作室" } });
  expect(space.status).toBe(201);
  const spaceId: string = space.json.data.id;
  // A member of A's space besides A, for the member routes.
  const carol = await ctx.register("carol");
  const join = await ctx.call("POST", `/api/v1/spaces/${spaceId}/invites`, {
    token: a.token,
    body: { role: "editor" },
  });
  expect(join.status).toBe(201);
  const joined = await ctx.call("POST", "/api/v1/spaces/join", {
    token: carol.token,
    body: { invite_code: join.json.data.code },
  });
  expect(joined.json.data.role).toBe("editor");
  const invite = await ctx.call("POST", `/api/v1/spaces/${spaceId}/invites`, { token: a.token, body: {} });
  expect(invite.status).toBe(201);

  // A project with a finished run, in A's team space (the space A is in now).
  const switched = await ctx.call("POST", "/api/v1/spaces/switch", { token: a.token, body: { space_id: spaceId } });
  expect(switched.status).toBe(200);
  const { project, run } = await completedProject(ctx, a.token);
  // Nothing runs from here on: whatever B's requests enqueued would stay in the jobs table.
  await worker.stop();
  const projectId: string = project.id;
  const timeline = (await ctx.call("GET", `/api/v1/projects/${projectId}/timeline`, { token: a.token })).json.data;
  const clip = timeline.clips.find((c: { lines: Array<{ kind: string }> }) =>
    c.lines.some((l) => l.kind === "dialogue"),
  );
  const asset = await ctx.db
    .selectFrom("assets")
    .select("id")
    .where("project_id", "=", projectId)
    .where("kind", "=", "keyframe")
    .executeTakeFirstOrThrow();
  const exported = await ctx.db
    .selectFrom("exports")
    .select("files")
    .where("id", "=", run.export_id)
    .executeTakeFirstOrThrow();
  const job = await ctx.db
    .selectFrom("job_history")
    .select("id")
    .where(sql<string>`payload->>'run_id'`, "=", run.id)
    .limit(1)
    .executeTakeFirstOrThrow();
  const provider = await ctx.db.selectFrom("providers").select("id").orderBy("id").limit(1).executeTakeFirstOrThrow();
  // A generation task (it stays pending: no worker runs).
  const task = await ctx.call("POST", `/api/v1/projects/${projectId}/timeline/clips/${clip.id}/regenerate-image`, {
    token: a.token,
    body: {},
  });
  expect(task.status).toBe(202);

  const generation = await ctx.call("POST", "/api/v1/generate/text-to-image", {
    token: a.token,
    body: { prompt: "a lighthouse at dusk", width: 64, height: 64 },
  });
  expect(generation.status).toBe(202);
  const workId = await workFixture(ctx.db, a.user.id);
  // A's payment intent (pending: no webhook completes it).
  const recharge = await ctx.call("POST", "/api/v1/user/recharge", { token: a.token, body: { points: 100 } });
  expect(recharge.status).toBe(201);

  const b = await ctx.register("bob");
  return {
    a,
    b,
    spaceId,
    projectId,
    runId: run.id,
    memberIds: [a.user.id, carol.user.id],
    ids: {
      ...(await libraryItems(ctx.db, { spaceId, userId: a.user.id })),
      projects: projectId,
      runs: run.id,
      "material-packages": run.package_id,
      exports: run.export_id,
      assets: asset.id,
      attachments: await attachmentFixture(ctx.db, { projectId, assetId: asset.id }),
      clipId: clip.id,
      lineId: clip.lines.find((l: { kind: string }) => l.kind === "dialogue").id,
      fileId: exported.files[0]!.asset_id,
      spaces: spaceId,
      inviteId: invite.json.data.id,
      userId: carol.user.id,
      users: a.user.id,
      jobs: job.id,
      providers: provider.id,
      // A ComfyUI workflow (shipped): ADMIN-only routes take it by name.
      name: "txt2img",
      tasks: task.json.data.task_ids[0],
      batchId: await batchFixture(ctx.db, { projectId, userId: a.user.id }),
      // A's unpublished work: B may neither manage it nor find it on the square.
      works: workId,
      square: workId,
      taskId: generation.json.data.task_id,
      recharge: recharge.json.data.id,
    },
  };
}

let shared: Promise<Fixture> | null = null;
const fixture = () => (shared ??= build());

/** Everything of A's a request by B could have changed. */
async function snapshot(f: Fixture) {
  const rows = (table: "runs" | "packages" | "exports" | "assets" | "project_events") =>
    sql<Record<string, unknown>>`select * from ${sql.table(table)} where project_id = ${f.projectId} order by id`
      .execute(ctx.db)
      .then((r) => r.rows);
  return {
    users: await ctx.db.selectFrom("users").selectAll().where("id", "in", f.memberIds).orderBy("id").execute(),
    sessions: await ctx.db.selectFrom("sessions").selectAll().where("user_id", "in", f.memberIds).execute(),
    spaces: await ctx.db.selectFrom("spaces").selectAll().where("owner_id", "=", f.a.user.id).orderBy("id").execute(),
    members: await ctx.db
      .selectFrom("space_members")
      .selectAll()
      .where("space_id", "=", f.spaceId)
      .orderBy("user_id")
      .execute(),
    invites: await ctx.db
      .selectFrom("space_invites")
      .selectAll()
      .where("space_id", "=", f.spaceId)
      .orderBy("id")
      .execute(),
    projects: await ctx.db.selectFrom("projects").selectAll().where("space_id", "=", f.spaceId).orderBy("id").execute(),
    runs: await rows("runs"),
    packages: await rows("packages"),
    exports: await rows("exports"),
    assets: await rows("assets"),
    events: await rows("project_events"),
    shots: await ctx.db
      .selectFrom("package_shots")
      .innerJoin("packages", "packages.id", "package_shots.package_id")
      .selectAll("package_shots")
      .where("packages.project_id", "=", f.projectId)
      .orderBy("package_shots.package_id")
      .orderBy("package_shots.position")
      .execute(),
    jobs: await ctx.db.selectFrom("jobs").selectAll().orderBy("id").execute(),
    history: await ctx.db.selectFrom("job_history").select(["id", "state", "attempt"]).orderBy("id").execute(),
    providers: await ctx.db.selectFrom("providers").selectAll().orderBy("id").execute(),
    attachments: await ctx.db
      .selectFrom("project_attachments")
      .selectAll()
      .where("project_id", "=", f.projectId)
      .orderBy("id")
      .execute(),
    library: await ctx.db
      .selectFrom("library_items")
      .selectAll()
      .where("space_id", "=", f.spaceId)
      .orderBy("id")
      .execute(),
    files: (await ctx.deps.storage.list(`projects/${f.projectId}/`)).map((o) => [o.key, o.sha256]),
    works: await ctx.db.selectFrom("works").selectAll().where("user_id", "=", f.a.user.id).orderBy("id").execute(),
  };
}

function answer(res: { status: number; json: unknown }) {
  const body = res.json as { success?: boolean; data?: unknown; message?: string; error?: { code?: string } } | null;
  return {
    status: res.status,
    success: body?.success,
    data: body?.data,
    code: body?.error?.code,
    message: body?.message,
  };
}

const fails = (r: Route, what: string, res: { status: number; json: unknown }) =>
  `${key(r)} ${what}: ${res.status} ${JSON.stringify(res.json)}`;

describe("another user's ids, on every route that takes one", () => {
  test("the fixture fills every path parameter of every route, so no route goes untested", async () => {
    const { ids } = await fixture();
    expect(withIds.length).toBeGreaterThanOrEqual(55);
    for (const excluded of Object.keys(NOT_RESOURCE_IDS)) expect(table.map(key)).toContain(excluded);
    const unfilled = withIds.flatMap((r) =>
      paramNames(r.path)
        .filter((n) => !(n in ids))
        .map((n) => `${key(r)} (${n})`),
    );
    expect(unfilled, "routes whose path parameters the fixture cannot fill").toEqual([]);
  });

  test("B is in none of A's spaces", async () => {
    const f = await fixture();
    const mine = await ctx.db
      .selectFrom("space_members")
      .select("space_id")
      .where("user_id", "=", f.b.user.id)
      .execute();
    expect(mine.map((m) => m.space_id)).not.toContain(f.spaceId);
    const theirs = await ctx.db
      .selectFrom("space_members")
      .select("space_id")
      .where("user_id", "in", f.memberIds)
      .execute();
    expect(theirs.filter((t) => mine.some((m) => m.space_id === t.space_id))).toEqual([]);
  });

  test("every route answers B 404 NOT_FOUND for A's ids, exactly as for made-up ones, and nothing of A's changes", async () => {
    const f = await fixture();
    const routes = withIds.filter((r) => !r.admin);
    expect(routes.length).toBeGreaterThan(40);
    const before = await snapshot(f);
    const wrong: string[] = [];
    for (const r of routes) {
      const res = await send(ctx.app, r, pathFor(r, f.ids), f.b.token);
      const got = answer(res);
      if (got.status !== 404 || got.code !== "NOT_FOUND" || got.success !== false || got.data !== null) {
        wrong.push(fails(r, "with A's ids", res));
        continue;
      }
      const madeUp = await send(ctx.app, r, pathFor(r, {}, true), f.b.token);
      if (JSON.stringify(answer(madeUp)) !== JSON.stringify(got))
        wrong.push(`${fails(r, "with made-up ids", madeUp)} differs from ${JSON.stringify(got)} for A's`);
    }
    expect(wrong).toEqual([]);
    expect(await snapshot(f)).toEqual(before);
  });

  test("every ADMIN-only route refuses B with 403 FORBIDDEN, and nothing of A's changes", async () => {
    const f = await fixture();
    const routes = withIds.filter((r) => r.admin);
    expect(routes.map(key)).toEqual(
      expect.arrayContaining(["DELETE /api/v1/users/:id", "POST /api/v1/admin/jobs/:id/retry"]),
    );
    const before = await snapshot(f);
    const wrong: string[] = [];
    for (const r of routes) {
      const res = await send(ctx.app, r, pathFor(r, f.ids), f.b.token);
      const got = answer(res);
      if (got.status !== 403 || got.code !== "FORBIDDEN" || got.success !== false || got.data !== null)
        wrong.push(fails(r, "as a plain USER", res));
    }
    expect(wrong).toEqual([]);
    expect(await snapshot(f)).toEqual(before);
  });
});
