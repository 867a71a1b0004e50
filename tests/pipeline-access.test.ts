// Who may reach a project's pipeline: someone else's project, runs, packages, timeline, exports,
// files and events are "not found" (never 403, which would reveal them); a viewer of a team space
// reads but cannot edit (403); no token is 401. Deleting a project removes its rows at once and
// its files by a job enqueued with them.
import { describe, expect, test } from "bun:test";
import { sql } from "kysely";
import type { CallResult } from "./support/context.ts";
import {
  completedProject,
  fetchSigned,
  pipelineContext,
  SHORT_STORY,
  unsigned,
  WAIT_MS,
  waitUntil,
} from "./support/pipeline.ts";

const ctx = await pipelineContext();
await ctx.startWorker();

interface Owned {
  token: string;
  projectId: string;
  projectName: string;
  runId: string;
  packageId: string;
  exportId: string;
  clipId: string;
  lineId: string;
  clipIds: string[];
  assetId: string;
}

/** A user with a finished project (in `spaceId` when given), and the ids of everything it made. */
async function owned(token: string, spaceId?: string): Promise<Owned> {
  const created = await ctx.call("POST", "/api/v1/projects", {
    token,
    body: {
      name: `雨夜 ${crypto.randomUUID().slice(0, 8)}`,
      input: { type: "novel", text: SHORT_STORY },
      ...(spaceId ? { space_id: spaceId } : {}),
    },
  });
  expect(created.status).toBe(201);
  const started = await ctx.call("POST", `/api/v1/projects/${created.json.data.id}/runs`, {
    token,
    body: { mode: "auto" },
  });
  expect(started.status).toBe(202);
  const run = await ctx.waitForRun(token, started.json.data.id, ["completed", "failed"]);
  expect(run.status).toBe("completed");
  const timeline = (await ctx.call("GET", `/api/v1/projects/${created.json.data.id}/timeline`, { token })).json.data;
  const dialogueClip = timeline.clips.find((c: { lines: Array<{ kind: string }> }) =>
    c.lines.some((l) => l.kind === "dialogue"),
  );
  return {
    token,
    projectId: created.json.data.id,
    projectName: created.json.data.name,
    runId: run.id,
    packageId: run.package_id,
    exportId: run.export_id,
    clipId: dialogueClip.id,
    lineId: dialogueClip.lines.find((l: { kind: string }) => l.kind === "dialogue").id,
    clipIds: timeline.clips.map((c: { id: string }) => c.id),
    assetId: (
      await ctx.db
        .selectFrom("assets")
        .select("id")
        .where("project_id", "=", created.json.data.id)
        .where("kind", "=", "keyframe")
        .executeTakeFirstOrThrow()
    ).id,
  };
}

let sharedA: Promise<Owned> | null = null;
const ownerA = () => (sharedA ??= ctx.register("alice").then((a) => owned(a.token)));

/** Every route of a project's pipeline, with a valid body, as [method, path, body?, needs editor]. */
function routes(o: Owned): Array<[string, string, unknown, boolean]> {
  const p = `/api/v1/projects/${o.projectId}`;
  return [
    ["GET", p, undefined, false],
    ["PATCH", p, { name: "taken over" }, true],
    ["DELETE", p, undefined, true],
    ["GET", `/api/v1/runs/${o.runId}`, undefined, false],
    ["POST", `/api/v1/runs/${o.runId}/cancel`, undefined, true],
    ["POST", `/api/v1/runs/${o.runId}/retry`, undefined, true],
    ["POST", `/api/v1/runs/${o.runId}/skip`, { stage: "music" }, true],
    ["POST", `${p}/runs`, { mode: "auto" }, true],
    ["POST", `${p}/runs`, { mode: "step", from_stage: "storyboard", to_stage: "storyboard" }, true],
    ["GET", `${p}/material-packages`, undefined, false],
    ["GET", `/api/v1/material-packages/${o.packageId}`, undefined, false],
    ["POST", `/api/v1/material-packages/${o.packageId}/switch`, undefined, true],
    ["PUT", `/api/v1/material-packages/${o.packageId}`, { package_name: "mine now" }, true],
    ["POST", `/api/v1/material-packages/${o.packageId}/save-new`, { package_name: "copy" }, true],
    ["GET", `${p}/timeline`, undefined, false],
    ["PUT", `${p}/timeline/clips/${o.clipId}/narration`, { text_content: "被别人改过的旁白。" }, true],
    ["PUT", `${p}/timeline/clips/${o.clipId}/dialogue/${o.lineId}`, { text_content: "被别人改过的台词。" }, true],
    ["PUT", `${p}/timeline/clips/${o.clipId}/duration`, { duration: 20 }, true],
    ["PUT", `${p}/timeline/clips/${o.clipId}/edit-config`, { filter_type: "noir" }, true],
    ["POST", `${p}/timeline/reorder`, { clip_ids: [...o.clipIds].reverse() }, true],
    ["DELETE", `${p}/timeline/clips/${o.clipId}`, undefined, true],
    ["GET", `${p}/timeline/bgm`, undefined, false],
    ["PUT", `${p}/timeline/bgm`, { volume: 0.9 }, true],
    ["POST", `${p}/exports`, {}, true],
    ["GET", `${p}/exports`, undefined, false],
    ["GET", `/api/v1/exports/${o.exportId}`, undefined, false],
    ["POST", `/api/v1/exports/${o.exportId}/cancel`, undefined, true],
    ["GET", `/api/v1/assets/${o.assetId}`, undefined, false],
    ["POST", `/api/v1/material-packages/${o.packageId}/regenerate/image`, { element: "shot", id: o.clipId }, true],
    [
      "POST",
      `/api/v1/material-packages/${o.packageId}/select-candidate`,
      { element: "scene", id: "c1s1", asset_id: o.assetId },
      true,
    ],
    [
      "POST",
      `/api/v1/material-packages/${o.packageId}/switch-voice`,
      { character: null, voice_id: "someone-else" },
      true,
    ],
    [
      "POST",
      `/api/v1/material-packages/${o.packageId}/modify/text`,
      { element: "shot", id: o.clipId, field: "description", value: "改" },
      true,
    ],
    ["POST", `${p}/timeline/clips/${o.clipId}/regenerate-image`, {}, true],
    ["POST", `${p}/timeline/clips/${o.clipId}/generate-video`, {}, true],
    ["POST", `${p}/timeline/generate-videos`, { clip_ids: [o.clipId] }, true],
    ["GET", `${p}/timeline/clips/${o.clipId}/candidates`, undefined, false],
    ["POST", `${p}/timeline/clips/${o.clipId}/select-candidate`, { type: "image", asset_id: o.assetId }, true],
  ];
}

const send = (method: string, path: string, body: unknown, token?: string) =>
  ctx.call(method, path, { token, ...(body === undefined ? {} : { body }) });

/** Opens the SSE stream; returns the response (the stream is cancelled at once when it is one). */
async function sse(
  projectId: string,
  auth: { header?: string; query?: string },
): Promise<{ status: number; type: string | null; json: unknown; first: string }> {
  const abort = new AbortController();
  const headers: Record<string, string> = auth.header ? { authorization: `Bearer ${auth.header}` } : {};
  const q = auth.query ? `?token=${encodeURIComponent(auth.query)}` : "";
  const res = await ctx.app.handle(
    new Request(`http://localhost/api/v1/projects/${projectId}/events${q}`, { headers, signal: abort.signal }),
  );
  const type = res.headers.get("content-type");
  if (type?.startsWith("text/event-stream")) {
    const reader = res.body!.getReader();
    const { value } = await reader.read();
    abort.abort();
    await reader.cancel().catch(() => {});
    return { status: res.status, type, json: null, first: new TextDecoder().decode(value) };
  }
  return { status: res.status, type, json: await res.json(), first: "" };
}

function expectError(res: CallResult, status: number, code: string, what: string) {
  if (res.status !== status)
    throw new Error(`${what}: expected ${status} ${code}, got ${res.status} ${JSON.stringify(res.json)}`);
  expect(res.json).toMatchObject({ success: false, data: null, error: { code } });
}

/** What A's project looks like, to check that nothing another user tried changed it. */
async function snapshot(o: Owned) {
  const project = (await ctx.call("GET", `/api/v1/projects/${o.projectId}`, { token: o.token })).json.data;
  const timeline = (await ctx.call("GET", `/api/v1/projects/${o.projectId}/timeline`, { token: o.token })).json.data;
  const packages = (await ctx.call("GET", `/api/v1/projects/${o.projectId}/material-packages`, { token: o.token })).json
    .data.list;
  const runs = await ctx.db
    .selectFrom("runs")
    .select(["id", "status"])
    .where("project_id", "=", o.projectId)
    .orderBy("id")
    .execute();
  const exports = await ctx.db
    .selectFrom("exports")
    .select("id")
    .where("project_id", "=", o.projectId)
    .orderBy("id")
    .execute();
  return unsigned({ project: { ...project, updated_at: undefined }, timeline, packages, runs, exports });
}

describe("someone else's project", () => {
  test("every pipeline route answers 404 NOT_FOUND to another user, and nothing changes", async () => {
    const a = await ownerA();
    const b = await ctx.register("bob");
    const before = await snapshot(a);
    for (const [method, path, body] of routes(a)) {
      expectError(await send(method, path, body, b.token), 404, "NOT_FOUND", `${method} ${path} as another user`);
    }
    // Exactly as for ids that do not exist at all.
    const nobody = crypto.randomUUID();
    for (const [method, path, body] of routes({
      ...a,
      projectId: nobody,
      runId: nobody,
      packageId: nobody,
      exportId: nobody,
      assetId: nobody,
    })) {
      expectError(await send(method, path, body, b.token), 404, "NOT_FOUND", `${method} ${path} (missing)`);
    }
    // The event stream, by header and by ?token=.
    for (const auth of [{ header: b.token }, { query: b.token }]) {
      const res = await sse(a.projectId, auth);
      expect(res.status).toBe(404);
      expect(res.json).toMatchObject({ success: false, error: { code: "NOT_FOUND" } });
    }
    // B's list and search do not include A's project.
    const list = await ctx.call("GET", `/api/v1/projects?keyword=${encodeURIComponent(a.projectName)}`, {
      token: b.token,
    });
    expect(list.status).toBe(200);
    expect(list.json.data.total).toBe(0);
    const all = await ctx.call("GET", "/api/v1/projects?page_size=100", { token: b.token });
    expect(all.json.data.items.map((p: { id: string }) => p.id)).not.toContain(a.projectId);
    expect(
      (await ctx.call("GET", `/api/v1/projects?keyword=${encodeURIComponent(a.projectName)}`, { token: a.token })).json
        .data.total,
    ).toBe(1);
    // B cannot create a project in A's space either.
    const aSpace = (await ctx.call("GET", `/api/v1/projects/${a.projectId}`, { token: a.token })).json.data.space_id;
    const intrude = await send(
      "POST",
      "/api/v1/projects",
      { space_id: aSpace, input: { type: "novel", text: "x".repeat(60) } },
      b.token,
    );
    expectError(intrude, 404, "NOT_FOUND", "create in another user's space");

    expect(await snapshot(a)).toEqual(before);
  });

  test("the WebSocket refuses to subscribe another user to the project (NOT_FOUND)", async () => {
    const a = await ownerA();
    const b = await ctx.register("bob");
    const server = ctx.app.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${server.server!.port}/ws?token=${encodeURIComponent(b.token)}`);
      const frames: Array<{ event: string; data?: { code: string } }> = [];
      ws.addEventListener("message", (m) => frames.push(JSON.parse(String(m.data))));
      await new Promise<void>((resolve, reject) => {
        ws.addEventListener("open", () => resolve(), { once: true });
        ws.addEventListener("error", () => reject(new Error("websocket failed to open")), { once: true });
      });
      ws.send(JSON.stringify({ action: "subscribe", channel: "project", project_id: a.projectId }));
      const answer = await waitUntil(
        "an answer to subscribe",
        () => frames.find((f) => f.event === "error" || f.event === "subscribed"),
        5000,
      );
      expect(answer).toMatchObject({ event: "error", data: { code: "NOT_FOUND" } });
      ws.close();
    } finally {
      await server.stop(true);
    }
  });

  test("files are reachable only through signed links, never by path or token", async () => {
    const a = await ownerA();
    const b = await ctx.register("bob");
    const assets = await ctx.db
      .selectFrom("assets")
      .select(["id", "storage_key", "kind"])
      .where("project_id", "=", a.projectId)
      .execute();
    expect(assets.length).toBeGreaterThan(0);
    // The asset route signs a link for the owner only; to anyone else every asset is not found.
    for (const asset of assets) {
      expectError(
        await ctx.call("GET", `/api/v1/assets/${asset.id}`, { token: b.token }),
        404,
        "NOT_FOUND",
        `asset ${asset.kind} as another user`,
      );
    }
    const mine = await ctx.call("GET", `/api/v1/assets/${a.assetId}`, { token: a.token });
    expect(mine.status).toBe(200);
    expect((await fetchSigned(ctx, mine.json.data.download_url)).status).toBe(200);
    for (const asset of assets.slice(0, 6)) {
      const path = `/files/${asset.storage_key.split("/").map(encodeURIComponent).join("/")}`;
      for (const token of [b.token, a.token]) {
        const res = await ctx.app.handle(
          new Request(`http://localhost${path}`, { headers: { authorization: `Bearer ${token}` } }),
        );
        expect(res.status).toBe(403);
        expect((await res.json()).error.code).toBe("FORBIDDEN");
      }
    }
    // A link signed for one of A's files does not open another.
    const ex = (await ctx.call("GET", `/api/v1/exports/${a.exportId}`, { token: a.token })).json.data;
    const video = new URL(ex.files.find((f: { file_type: string }) => f.file_type === "video").download_url);
    const keyframe = assets.find((x) => x.kind === "keyframe")!;
    const swapped = new URL(video);
    swapped.pathname = `/files/${keyframe.storage_key.split("/").map(encodeURIComponent).join("/")}`;
    expect((await fetchSigned(ctx, String(swapped))).status).toBe(403);
    // Nor reach outside the files directory.
    for (const path of [
      "/files/..%2F.signing-secret",
      "/files/%2E%2E/%2E%2E/etc/passwd",
      `/files/projects/${a.projectId}/..%2F..%2F.signing-secret`,
    ]) {
      const res = await ctx.app.handle(
        new Request(`http://localhost${path}?expires=9999999999&sig=${video.searchParams.get("sig")}`),
      );
      expect([403, 404]).toContain(res.status);
    }
  });

  test("without a token (or with a bad one) every route is 401", async () => {
    const a = await ownerA();
    for (const token of [undefined, "not-a-jwt", `${a.token}x`]) {
      for (const [method, path, body] of [
        ...routes(a),
        ["GET", "/api/v1/projects", undefined, false] as const,
        ["POST", "/api/v1/projects", { input: { type: "novel", text: "x".repeat(60) } }, true] as const,
      ]) {
        expectError(
          await send(method, path, body, token),
          401,
          "UNAUTHORIZED",
          `${method} ${path} with token ${token?.slice(0, 10)}`,
        );
      }
      const res = await sse(a.projectId, token ? { header: token } : {});
      expect(res.status).toBe(401);
    }
    // Still A's, untouched.
    expect((await ctx.call("GET", `/api/v1/projects/${a.projectId}`, { token: a.token })).status).toBe(200);
  });
});

describe("a viewer of a team space", () => {
  test("reads the project, its runs, timeline, packages, exports and events, but every edit is 403", async () => {
    const admin = await ctx.register("teamlead");
    const viewer = await ctx.register("viewer");
    const space = await ctx.call("POST", "/api/v1/spaces", { token: admin.token, body: { name: "茶馆工作室" } });
    expect(space.status).toBe(201);
    const invite = await ctx.call("POST", `/api/v1/spaces/${space.json.data.id}/invites`, {
      token: admin.token,
      body: { role: "viewer" },
    });
    expect(invite.status).toBe(201);
    const joined = await ctx.call("POST", "/api/v1/spaces/join", {
      token: viewer.token,
      body: { invite_code: invite.json.data.code },
    });
    expect(joined.status).toBe(201);
    expect(joined.json.data.role).toBe("viewer");

    const a = await owned(admin.token, space.json.data.id);
    const before = await snapshot(a);
    for (const [method, path, body, edit] of routes(a)) {
      const res = await send(method, path, body, viewer.token);
      if (edit) expectError(res, 403, "FORBIDDEN", `${method} ${path} as a viewer`);
      else if (res.status !== 200)
        throw new Error(`${method} ${path} as a viewer: ${res.status} ${JSON.stringify(res.json)}`);
    }
    const listed = await ctx.call("GET", `/api/v1/projects?space_id=${space.json.data.id}`, { token: viewer.token });
    expect(listed.json.data.items.map((p: { id: string }) => p.id)).toEqual([a.projectId]);
    // The viewer's download links work.
    const ex = (await ctx.call("GET", `/api/v1/exports/${a.exportId}`, { token: viewer.token })).json.data;
    expect(
      (
        await fetchSigned(ctx, ex.files.find((f: { file_type: string }) => f.file_type === "video").download_url, {
          method: "HEAD",
        })
      ).status,
    ).toBe(200);
    // The event stream opens, with the backlog of the run.
    const stream = await sse(a.projectId, { query: viewer.token });
    expect(stream.status).toBe(200);
    expect(stream.type).toStartWith("text/event-stream");
    // A viewer cannot create projects in the space.
    const create = await send(
      "POST",
      "/api/v1/projects",
      { space_id: space.json.data.id, input: { type: "novel", text: "x".repeat(60) } },
      viewer.token,
    );
    expectError(create, 403, "FORBIDDEN", "create as a viewer");
    expect(await snapshot(a)).toEqual(before);

    // A member of the team space still cannot see the admin's personal projects.
    const personal = await ctx.call("POST", "/api/v1/projects", {
      token: admin.token,
      body: { input: { type: "novel", text: "y".repeat(60) } },
    });
    expect(personal.status).toBe(201);
    expectError(
      await ctx.call("GET", `/api/v1/projects/${personal.json.data.id}`, { token: viewer.token }),
      404,
      "NOT_FOUND",
      "admin's personal project",
    );
  });
});

describe("deleting a project", () => {
  async function leftovers(projectId: string, runIds: string[]) {
    const count = async (table: "runs" | "packages" | "assets" | "exports" | "project_events") =>
      Number(
        (
          await ctx.db
            .selectFrom(table)
            .select(sql<number>`count(*)`.as("n"))
            .where("project_id", "=", projectId)
            .executeTakeFirstOrThrow()
        ).n,
      );
    const jobs = runIds.length
      ? Number(
          (
            await sql<{ n: number }>`select count(*) as n from jobs where payload->>'run_id' = any(${runIds})`.execute(
              ctx.db,
            )
          ).rows[0]!.n,
        )
      : 0;
    return {
      runs: await count("runs"),
      packages: await count("packages"),
      assets: await count("assets"),
      exports: await count("exports"),
      events: await count("project_events"),
      shots: Number(
        (
          await sql<{
            n: number;
          }>`select count(*) as n from package_shots s where not exists (select 1 from packages p where p.id = s.package_id)`.execute(
            ctx.db,
          )
        ).rows[0]!.n,
      ),
      jobs,
      files: (await ctx.deps.storage.list(`projects/${projectId}/`)).length,
    };
  }
  const none = { runs: 0, packages: 0, assets: 0, exports: 0, events: 0, shots: 0, jobs: 0, files: 0 };

  test("removes its runs, packages, assets, exports and every stored file", async () => {
    const me = await ctx.register("deleter");
    const { project, run } = await completedProject(ctx, me.token);
    const before = await leftovers(project.id, [run.id]);
    expect(before.files).toBeGreaterThan(0);
    expect(before.assets).toBeGreaterThan(0);
    const ex = (await ctx.call("GET", `/api/v1/exports/${run.export_id}`, { token: me.token })).json.data;
    const link = ex.files[0].download_url;

    const del = await ctx.call("DELETE", `/api/v1/projects/${project.id}`, { token: me.token });
    expect(del.status).toBe(200);
    await ctx.waitForFilesRemoved(project.id);
    expect(await leftovers(project.id, [run.id])).toEqual(none);
    expectError(
      await ctx.call("GET", `/api/v1/projects/${project.id}`, { token: me.token }),
      404,
      "NOT_FOUND",
      "deleted project",
    );
    expectError(
      await ctx.call("GET", `/api/v1/runs/${run.id}`, { token: me.token }),
      404,
      "NOT_FOUND",
      "run of a deleted project",
    );
    expectError(
      await ctx.call("GET", `/api/v1/exports/${run.export_id}`, { token: me.token }),
      404,
      "NOT_FOUND",
      "export of a deleted project",
    );
    expectError(
      await ctx.call("POST", `/api/v1/projects/${project.id}/runs`, { token: me.token, body: { mode: "auto" } }),
      404,
      "NOT_FOUND",
      "run on a deleted project",
    );
    // An old, still validly signed link finds nothing.
    expect((await fetchSigned(ctx, link)).status).toBe(404);
    expectError(
      await ctx.call("DELETE", `/api/v1/projects/${project.id}`, { token: me.token }),
      404,
      "NOT_FOUND",
      "second delete",
    );
  });

  test("mid-run: the run stops and nothing it was making is left behind", async () => {
    const me = await ctx.register("deleter");
    const created = await ctx.call("POST", "/api/v1/projects", {
      token: me.token,
      body: { input: { type: "novel", text: SHORT_STORY } },
    });
    const projectId = created.json.data.id;
    const started = await ctx.call("POST", `/api/v1/projects/${projectId}/runs`, {
      token: me.token,
      body: { mode: "auto" },
    });
    const runId = started.json.data.id;
    await waitUntil(
      "the keyframes stage to run",
      async () => {
        const run = (await ctx.call("GET", `/api/v1/runs/${runId}`, { token: me.token })).json.data;
        if (["completed", "failed", "cancelled"].includes(run.status))
          throw new Error(`run ended ${run.status} before keyframes ran`);
        return run.stages.find((s: { stage: string }) => s.stage === "keyframes").status === "running";
      },
      WAIT_MS,
      20,
    );
    expect((await ctx.call("DELETE", `/api/v1/projects/${projectId}`, { token: me.token })).status).toBe(200);
    // Jobs that were running when it was deleted finish (aborted) shortly; then nothing is left.
    await waitUntil("the run's jobs to end", async () => (await leftovers(projectId, [runId])).jobs === 0, WAIT_MS);
    // A job that was past its last check may still write a file: give the workers a moment to go idle.
    await waitUntil(
      "the workers to go idle",
      async () =>
        Number(
          (await sql<{ n: number }>`select count(*) as n from jobs where state = 'running'`.execute(ctx.db)).rows[0]!.n,
        ) === 0,
      WAIT_MS,
    );
    await ctx.waitForFilesRemoved(projectId);
    expect(await leftovers(projectId, [runId])).toEqual(none);
  });
});
