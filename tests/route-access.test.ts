// Who may call what, read from the app's own route table rather than from a list kept by hand:
// every route on a space's resources declares the space role its service demands (the
// `spaceRole` route option, seen here as `x-space-role` in the route's docs) and every ADMIN
// route uses the `admin` option (`x-admin`). A route added without them fails the first test;
// one that declares them falsely fails the others, which call every such route as a viewer,
// an editor or a plain USER and check the answer.
import { describe, expect, test } from "bun:test";
import type { SpaceRole } from "../src/db/types.ts";
import { attachmentFixture, batchFixture, libraryItems } from "./support/library-fixture.ts";
import { pipelineContext, SHORT_STORY } from "./support/pipeline.ts";
import { key, pathFor, type Route, routeTable, send as sendRoute } from "./support/route-table.ts";

const ctx = await pipelineContext();
const worker = await ctx.startWorker();

const table: Route[] = routeTable(ctx.app);

/** Routes whose path names a project, run, export, asset, material package or space by id. */
const ON_SPACE_RESOURCE =
  /^\/api\/v1\/(projects|runs|exports|assets|attachments|material-packages|spaces|library\/[a-z]+)\/:/;

const RANK: Record<SpaceRole, number> = { viewer: 1, editor: 2, admin: 3 };
const needing = (min: SpaceRole) => table.filter((r) => r.role !== null && RANK[r.role] >= RANK[min]);
const aboveViewer = needing("editor");
const viewerRoutes = table.filter((r) => r.role === "viewer");
const adminRoutes = table.filter((r) => r.admin);

/** Edits everyone knows a viewer must not make; the generated list has to contain at least these. */
const KNOWN_EDITOR_ROUTES = [
  "POST /api/v1/projects",
  "POST /api/v1/projects/upload",
  "PATCH /api/v1/projects/:id",
  "DELETE /api/v1/projects/:id",
  "POST /api/v1/projects/:id/runs",
  "POST /api/v1/runs/:id/cancel",
  "POST /api/v1/runs/:id/retry",
  "POST /api/v1/runs/:id/skip",
  "POST /api/v1/projects/:id/exports",
  "POST /api/v1/exports/:id/cancel",
  "PUT /api/v1/projects/:id/timeline/clips/:clipId/duration",
  "PUT /api/v1/projects/:id/timeline/clips/:clipId/narration",
  "PUT /api/v1/projects/:id/timeline/clips/:clipId/dialogue/:lineId",
  "PUT /api/v1/projects/:id/timeline/clips/:clipId/edit-config",
  "POST /api/v1/projects/:id/timeline/reorder",
  "DELETE /api/v1/projects/:id/timeline/clips/:clipId",
  "POST /api/v1/projects/:id/timeline/clips/:clipId/regenerate-image",
  "POST /api/v1/projects/:id/timeline/clips/:clipId/select-candidate",
  "PUT /api/v1/projects/:id/timeline/bgm",
  "POST /api/v1/material-packages/:id/switch",
  "PUT /api/v1/material-packages/:id",
  "POST /api/v1/material-packages/:id/switch-voice",
  "POST /api/v1/material-packages/:id/modify/text",
  "POST /api/v1/material-packages/:id/regenerate/image",
  "POST /api/v1/material-packages/:id/select-candidate",
  "POST /api/v1/material-packages/:id/save-new",
  "PATCH /api/v1/spaces/:id",
  "POST /api/v1/spaces/:id/invites",
  "DELETE /api/v1/spaces/:id/members/:userId",
];

const KNOWN_ADMIN_ROUTES = [
  "GET /api/v1/admin/jobs",
  "POST /api/v1/admin/jobs/:id/retry",
  "POST /api/v1/admin/jobs/:id/cancel",
  "PUT /api/v1/config/providers",
  "POST /api/v1/config/providers/custom",
  "GET /api/v1/admin/providers",
  "PATCH /api/v1/admin/providers/:id",
  "POST /api/v1/admin/providers/:id/disable",
  "POST /api/v1/admin/providers/comfyui",
  "PUT /api/v1/admin/providers/comfyui/workflows/:name",
  "POST /api/v1/voices/sync",
  "DELETE /api/v1/users/:id",
  "DELETE /api/v1/assets/:id",
];

// ---- Requests made from a route's own schemas ----

const send = (r: Route, path: string, token: string) => sendRoute(ctx.app, r, path, token);

function expectRefused(res: { status: number; json: unknown }, what: string) {
  if (res.status !== 403)
    throw new Error(`${what}: expected 403 FORBIDDEN, got ${res.status} ${JSON.stringify(res.json)}`);
  expect(res.json).toMatchObject({ success: false, data: null, error: { code: "FORBIDDEN" } });
}

// ---- A team space with a project in it ----

interface Team {
  lead: Awaited<ReturnType<typeof ctx.register>>;
  viewer: Awaited<ReturnType<typeof ctx.register>>;
  editor: Awaited<ReturnType<typeof ctx.register>>;
  spaceId: string;
  projectId: string;
  /** Real ids for every path parameter, by the noun before `:id` or by the parameter's name. */
  ids: Record<string, string>;
  member(role: SpaceRole): Promise<Awaited<ReturnType<typeof ctx.register>>>;
}

async function makeTeam(): Promise<Team> {
  const lead = await ctx.register("lead");
  const space = await ctx.call("POST", "/api/v1/spaces", { token: lead.token, body: { name: "茶馆工作室" } });
  expect(space.status).toBe(201);
  const spaceId: string = space.json.data.id;
  const member = async (role: SpaceRole) => {
    const who = await ctx.register(role);
    const invite = await ctx.call("POST", `/api/v1/spaces/${spaceId}/invites`, { token: lead.token, body: { role } });
    expect(invite.status).toBe(201);
    const joined = await ctx.call("POST", "/api/v1/spaces/join", {
      token: who.token,
      body: { invite_code: invite.json.data.code },
    });
    expect(joined.json.data.role).toBe(role);
    return who;
  };
  const viewer = await member("viewer");
  const editor = await member("editor");
  // The team space is where a project made without a space_id goes.
  for (const who of [viewer, editor]) {
    const switched = await ctx.call("POST", "/api/v1/spaces/switch", { token: who.token, body: { space_id: spaceId } });
    expect(switched.status).toBe(200);
  }

  const created = await ctx.call("POST", "/api/v1/projects", {
    token: lead.token,
    body: { input: { type: "novel", text: SHORT_STORY }, space_id: spaceId },
  });
  expect(created.status).toBe(201);
  const projectId: string = created.json.data.id;
  // Up to the storyboard: a package with clips, lines and pictures, without the cost of a whole run.
  const started = await ctx.call("POST", `/api/v1/projects/${projectId}/runs`, {
    token: lead.token,
    body: { mode: "step", to_stage: "storyboard" },
  });
  expect(started.status).toBe(202);
  const run = await ctx.waitForRun(lead.token, started.json.data.id, ["paused", "failed"]);
  expect(run.status).toBe("paused");
  // Nothing runs from here on: the export below stays queued and every table stays still.
  await worker.stop();
  const exported = await ctx.call("POST", `/api/v1/projects/${projectId}/exports`, { token: lead.token, body: {} });
  expect(exported.status).toBe(202);
  const invite = await ctx.call("POST", `/api/v1/spaces/${spaceId}/invites`, { token: lead.token, body: {} });
  expect(invite.status).toBe(201);

  const timeline = (await ctx.call("GET", `/api/v1/projects/${projectId}/timeline`, { token: lead.token })).json.data;
  const clip = timeline.clips.find((c: { lines: Array<{ kind: string }> }) =>
    c.lines.some((l) => l.kind === "dialogue"),
  );
  const asset = await ctx.db
    .selectFrom("assets")
    .select("id")
    .where("project_id", "=", projectId)
    .executeTakeFirstOrThrow();
  // The queued export names one file (as a finished one would), so its file routes have one to serve.
  const file = { asset_id: asset.id, file_type: "cover", file_name: "cover.jpg", mime_type: "image/jpeg" };
  await ctx.db
    .updateTable("exports")
    .set({ files: JSON.stringify([{ ...file, file_size: 1, duration_s: null }]) })
    .where("id", "=", exported.json.data.id)
    .execute();
  const task = await ctx.call("POST", `/api/v1/projects/${projectId}/timeline/clips/${clip.id}/regenerate-image`, {
    token: lead.token,
    body: {},
  });
  expect(task.status).toBe(202);
  return {
    lead,
    viewer,
    editor,
    spaceId,
    projectId,
    member,
    ids: {
      ...(await libraryItems(ctx.db, { spaceId, userId: lead.user.id })),
      projects: projectId,
      runs: run.id,
      exports: exported.json.data.id,
      assets: asset.id,
      attachments: await attachmentFixture(ctx.db, { projectId, assetId: asset.id }),
      "material-packages": run.package_id,
      spaces: spaceId,
      clipId: clip.id,
      lineId: clip.lines.find((l: { kind: string }) => l.kind === "dialogue").id,
      fileId: asset.id,
      inviteId: invite.json.data.id,
      userId: lead.user.id,
      tasks: task.json.data.task_ids[0],
      batchId: await batchFixture(ctx.db, { projectId, userId: lead.user.id }),
    },
  };
}

let shared: Promise<Team> | null = null;
const team = () => (shared ??= makeTeam());

/** Everything in the team space a refused request could have changed. */
async function snapshot(t: Team) {
  return {
    spaces: await ctx.db.selectFrom("spaces").selectAll().where("id", "=", t.spaceId).execute(),
    members: await ctx.db
      .selectFrom("space_members")
      .selectAll()
      .where("space_id", "=", t.spaceId)
      .orderBy("user_id")
      .execute(),
    invites: await ctx.db
      .selectFrom("space_invites")
      .selectAll()
      .where("space_id", "=", t.spaceId)
      .orderBy("id")
      .execute(),
    projects: await ctx.db.selectFrom("projects").selectAll().where("space_id", "=", t.spaceId).orderBy("id").execute(),
    runs: await ctx.db.selectFrom("runs").selectAll().where("project_id", "=", t.projectId).orderBy("id").execute(),
    packages: await ctx.db
      .selectFrom("packages")
      .selectAll()
      .where("project_id", "=", t.projectId)
      .orderBy("id")
      .execute(),
    exports: await ctx.db
      .selectFrom("exports")
      .selectAll()
      .where("project_id", "=", t.projectId)
      .orderBy("id")
      .execute(),
    assets: await ctx.db.selectFrom("assets").selectAll().where("project_id", "=", t.projectId).orderBy("id").execute(),
    shots: await ctx.db
      .selectFrom("package_shots")
      .innerJoin("packages", "packages.id", "package_shots.package_id")
      .selectAll("package_shots")
      .where("packages.project_id", "=", t.projectId)
      .orderBy("package_shots.package_id")
      .orderBy("package_shots.position")
      .execute(),
    jobs: await ctx.db.selectFrom("jobs").select(["id", "state", "attempt"]).orderBy("id").execute(),
    attachments: await ctx.db
      .selectFrom("project_attachments")
      .selectAll()
      .where("project_id", "=", t.projectId)
      .orderBy("id")
      .execute(),
    library: await ctx.db
      .selectFrom("library_items")
      .selectAll()
      .where("space_id", "=", t.spaceId)
      .orderBy("id")
      .execute(),
  };
}

describe("space roles, from the route table", () => {
  test("every route on a space's resources declares its role, and the editor routes are all there", () => {
    // An ADMIN-only route (x-admin) acts on any space's resources: it needs no space role.
    const undeclared = table.filter((r) => ON_SPACE_RESOURCE.test(r.path) && r.role === null && !r.admin).map(key);
    expect(undeclared).toEqual([]);
    expect(aboveViewer.length).toBeGreaterThanOrEqual(KNOWN_EDITOR_ROUTES.length);
    expect(aboveViewer.map(key)).toEqual(expect.arrayContaining(KNOWN_EDITOR_ROUTES));
    expect(viewerRoutes.map(key)).toEqual(
      expect.arrayContaining([
        "GET /api/v1/projects/:id",
        "GET /api/v1/projects/:id/timeline",
        "GET /api/v1/exports/:id",
      ]),
    );
  });

  test("a viewer of a team space is refused (403 FORBIDDEN) on every route that needs more, and nothing changes", async () => {
    const t = await team();
    const before = await snapshot(t);
    for (const r of aboveViewer)
      expectRefused(await send(r, pathFor(r, t.ids), t.viewer.token), `${key(r)} as a viewer`);
    expect(await snapshot(t)).toEqual(before);
  });

  test("an editor is refused (403 FORBIDDEN) on every route that needs the space's admin", async () => {
    const t = await team();
    const adminOnly = needing("admin");
    expect(adminOnly.map(key)).toEqual(
      expect.arrayContaining(["PATCH /api/v1/spaces/:id", "DELETE /api/v1/spaces/:id"]),
    );
    const before = await snapshot(t);
    for (const r of adminOnly)
      expectRefused(await send(r, pathFor(r, t.ids), t.editor.token), `${key(r)} as an editor`);
    expect(await snapshot(t)).toEqual(before);
  });

  test("a viewer is served by every route that needs only a viewer", async () => {
    const t = await team();
    for (const r of viewerRoutes) {
      // A viewer route may change the viewer's own membership (leaving): each such call gets its own viewer.
      const token = r.method === "GET" ? t.viewer.token : (await t.member("viewer")).token;
      const res = await send(r, pathFor(r, t.ids), token);
      // 409: past the guard, refused for the resource's state (a result before any finished export).
      const served =
        res.status < 400 ||
        (res.status === 409 && (res.json as { error?: { code?: string } })?.error?.code === "CONFLICT");
      if (!served) throw new Error(`${key(r)} as a viewer: ${res.status} ${JSON.stringify(res.json)}`);
    }
  });
});

describe("ADMIN routes, from the route table", () => {
  test("every ADMIN route answers 403 FORBIDDEN to a plain USER, and nothing changes", async () => {
    expect(adminRoutes.map(key)).toEqual(expect.arrayContaining(KNOWN_ADMIN_ROUTES));
    const t = await team();
    const user = await ctx.register("plain");
    const bystander = await ctx.register("bystander");
    const job = await ctx.db.selectFrom("jobs").select("id").limit(1).executeTakeFirstOrThrow();
    const ids = { users: bystander.user.id, providers: "local", jobs: job.id };
    const providers = () => ctx.db.selectFrom("providers").selectAll().orderBy("id").execute();
    const chains = () => ctx.db.selectFrom("provider_chains").selectAll().execute();
    const before = { team: await snapshot(t), providers: await providers(), chains: await chains() };
    for (const r of adminRoutes) expectRefused(await send(r, pathFor(r, ids, true), user.token), `${key(r)} as a USER`);
    expect({ team: await snapshot(t), providers: await providers(), chains: await chains() }).toEqual(before);
    expect((await ctx.call("GET", `/api/v1/users/${bystander.user.id}`, { token: bystander.token })).status).toBe(200);
  });

  test("an ADMIN gets past the guard of every ADMIN route that only reads", async () => {
    const admin = await ctx.register("admin");
    await ctx.db.updateTable("users").set({ role: "ADMIN" }).where("id", "=", admin.user.id).execute();
    const reads = adminRoutes.filter((r) => r.method === "GET");
    expect(reads.length).toBeGreaterThan(0);
    for (const r of reads) {
      const res = await send(r, pathFor(r, {}, true), admin.token);
      // A made-up job id is 404: the route ran, past the guard.
      if (res.status === 401 || res.status === 403 || res.status >= 500)
        throw new Error(`${key(r)} as an ADMIN: ${res.status} ${JSON.stringify(res.json)}`);
    }
  });
});
