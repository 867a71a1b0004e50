// Bad input to the pipeline's routes: each is a clear 4xx in the failure envelope and stores
// nothing. Conflicting runs are 409; a cancelled run leaves no job behind.
import { describe, expect, test } from "bun:test";
import { sql } from "kysely";
import type { CallResult } from "./support/context.ts";
import { completedProject, pipelineContext, SHORT_STORY, WAIT_MS, waitUntil } from "./support/pipeline.ts";

const ctx = await pipelineContext();
await ctx.startWorker();

function expectError(res: CallResult, status: number, code: string, what = "") {
  if (res.status !== status)
    throw new Error(`${what}: expected ${status} ${code}, got ${res.status} ${JSON.stringify(res.json).slice(0, 500)}`);
  expect(res.json).toMatchObject({ success: false, data: null, message: expect.any(String), error: { code } });
  expect(res.headers.get("x-request-id")).toBeTruthy();
}

const fieldPaths = (res: CallResult): string[] =>
  (res.json.error.details.fields as Array<{ path: string }>).map((f) => f.path);

async function projectCount(userId: string) {
  const row = await ctx.db
    .selectFrom("projects")
    .select(sql<number>`count(*)`.as("n"))
    .where("owner_id", "=", userId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function newProject(token: string, text = SHORT_STORY) {
  const res = await ctx.call("POST", "/api/v1/projects", { token, body: { input: { type: "novel", text } } });
  expect(res.status).toBe(201);
  return res.json.data as { id: string };
}

async function rowsOf(projectId: string) {
  return {
    runs: (await ctx.db.selectFrom("runs").select("id").where("project_id", "=", projectId).execute()).length,
    packages: (await ctx.db.selectFrom("packages").select("id").where("project_id", "=", projectId).execute()).length,
  };
}

const runJobs = async (runId: string) =>
  Number(
    (await sql<{ n: number }>`select count(*) as n from jobs where payload->>'run_id' = ${runId}`.execute(ctx.db))
      .rows[0]!.n,
  );

describe("creating a project from bad input", () => {
  test("empty, too short and too long texts are 400 VALIDATION_ERROR naming /input/text; nothing is stored", async () => {
    const me = await ctx.register();
    for (const text of ["", "x".repeat(49), "字".repeat(49), "x".repeat(200_001)]) {
      const res = await ctx.call("POST", "/api/v1/projects", {
        token: me.token,
        body: { input: { type: "novel", text } },
      });
      expectError(res, 400, "VALIDATION_ERROR", `text of ${text.length} chars`);
      expect(fieldPaths(res)).toContain("/input/text");
    }
    // Missing text, wrong type, unknown input type, bad options.
    const bodies: Array<[unknown, string]> = [
      [{ input: { type: "novel" } }, "/input/text"],
      [{ input: { type: "novel", text: 12345 } }, "/input/text"],
      [{ input: { type: "poem", text: SHORT_STORY } }, "/input/type"],
      [{ input: { type: "novel", text: SHORT_STORY }, options: { voice_speed: 9 } }, "/options/voice_speed"],
      [{ input: { type: "novel", text: SHORT_STORY }, options: { aspect_ratio: "21:9" } }, "/options/aspect_ratio"],
      [{ input: { type: "novel", text: SHORT_STORY }, name: "" }, "/name"],
      // A body without input is an empty project (tests/projects-details.test.ts); asking it to run is not.
      [{ run: { mode: "auto" } }, "/run"],
    ];
    for (const [body, path] of bodies) {
      const res = await ctx.call("POST", "/api/v1/projects", { token: me.token, body });
      expectError(res, 400, "VALIDATION_ERROR", JSON.stringify(body).slice(0, 80));
      expect(fieldPaths(res).some((p) => p.startsWith(path))).toBe(true);
    }
    expect(await projectCount(me.user.id)).toBe(0);
    // The bounds themselves are accepted.
    expect(
      (
        await ctx.call("POST", "/api/v1/projects", {
          token: me.token,
          body: { input: { type: "novel", text: "x".repeat(50) } },
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await ctx.call("POST", "/api/v1/projects", {
          token: me.token,
          body: { input: { type: "novel", text: "雨".repeat(200_000) } },
        })
      ).status,
    ).toBe(201);
    expect(await projectCount(me.user.id)).toBe(2);
  });

  test("a 5 MB body is 413 PAYLOAD_TOO_LARGE, with or without Content-Length", async () => {
    const me = await ctx.register();
    const body = JSON.stringify({ input: { type: "novel", text: "x".repeat(5 * 1024 * 1024) } });
    const sized = await ctx.call("POST", "/api/v1/projects", {
      token: me.token,
      raw: body,
      headers: { "content-type": "application/json", "content-length": String(body.length) },
    });
    expectError(sized, 413, "PAYLOAD_TOO_LARGE", "5 MB with content-length");
    // Streamed, no length declared.
    const bytes = new TextEncoder().encode(body);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 64 * 1024) c.enqueue(bytes.slice(i, i + 64 * 1024));
        c.close();
      },
    });
    const streamed = await ctx.app.handle(
      new Request("http://localhost/api/v1/projects", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${me.token}` },
        body: stream,
        duplex: "half",
      } as RequestInit),
    );
    expect(streamed.status).toBe(413);
    expect((await streamed.json()).error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(await projectCount(me.user.id)).toBe(0);
  });

  test("malformed JSON and non-UTF-8 bodies are 400 VALIDATION_ERROR", async () => {
    const me = await ctx.register();
    const project = await newProject(me.token);
    for (const [path, raw] of [
      ["/api/v1/projects", '{"input": {"type": "novel", "text": '],
      ["/api/v1/projects", "{'input': 1}"],
      [`/api/v1/projects/${project.id}/runs`, '{"mode": "auto",}'],
      [`/api/v1/projects/${project.id}/runs`, "mode=auto"],
    ] as const) {
      const res = await ctx.call("POST", path, {
        token: me.token,
        raw,
        headers: { "content-type": "application/json" },
      });
      expectError(res, 400, "VALIDATION_ERROR", `${path} ${raw}`);
    }
    const latin1 = new Uint8Array([
      ...new TextEncoder().encode('{"input":{"type":"novel","text":"'),
      ...new Array(60).fill(0xe9),
      ...new TextEncoder().encode('"}}'),
    ]);
    expectError(
      await ctx.call("POST", "/api/v1/projects", {
        token: me.token,
        raw: latin1,
        headers: { "content-type": "application/json" },
      }),
      400,
      "VALIDATION_ERROR",
      "latin-1 body",
    );
    expect(await projectCount(me.user.id)).toBe(1);
    expect(await ctx.db.selectFrom("runs").select("id").where("project_id", "=", project.id).execute()).toEqual([]);
  });

  test("control characters, NULs and lone surrogates in any field never cause a 500", async () => {
    const me = await ctx.register();
    const project = await newProject(me.token);
    const story = SHORT_STORY.slice(0, 60);
    const attempts: Array<[string, string, string, unknown]> = [
      [
        "NUL in the text",
        "POST",
        "/api/v1/projects",
        { input: { type: "novel", text: `${story}\u0000\u0000${story}` } },
      ],
      ["only NULs as the text", "POST", "/api/v1/projects", { input: { type: "novel", text: "\u0000".repeat(60) } }],
      [
        "C0/C1 controls and separators in the text",
        "POST",
        "/api/v1/projects",
        { input: { type: "novel", text: `${story}\u0001\u0002\u0007\u001b[31m\u007f\u0085\u2028\u2029${story}` } },
      ],
      [
        "a lone surrogate in the text",
        "POST",
        "/api/v1/projects",
        { input: { type: "novel", text: `${story}\ud800${story}` } },
      ],
      [
        "NUL in the name",
        "POST",
        "/api/v1/projects",
        { name: "a\u0000b", input: { type: "novel", text: SHORT_STORY } },
      ],
      [
        "NUL in options.style",
        "POST",
        "/api/v1/projects",
        { input: { type: "novel", text: SHORT_STORY }, options: { style: "anime\u0000" } },
      ],
      ["NUL in a renamed project", "PATCH", `/api/v1/projects/${project.id}`, { name: "x\u0000y" }],
      ["NUL in a list keyword", "GET", "/api/v1/projects?keyword=%00", undefined],
      ["NUL inside a list keyword", "GET", "/api/v1/projects?keyword=a%00b", undefined],
      ["a line separator as keyword", "GET", "/api/v1/projects?keyword=%E2%80%A8", undefined],
    ];
    const failures: string[] = [];
    for (const [what, method, path, body] of attempts) {
      const res = await ctx.call(method, path, { token: me.token, ...(body === undefined ? {} : { body }) });
      if (res.status >= 500)
        failures.push(`${what}: ${method} ${path} answered ${res.status} ${res.json?.error?.code}`);
      else if (res.status >= 400) expect(res.json.error.code).toBe("VALIDATION_ERROR");
      else if (res.status === 201)
        expect((await ctx.call("GET", `/api/v1/projects/${res.json.data.id}`, { token: me.token })).status).toBe(200);
    }
    expect(failures).toEqual([]);
  });
});

describe("runs", () => {
  test("unknown stage names and modes are 400 VALIDATION_ERROR", async () => {
    const me = await ctx.register();
    const project = await newProject(me.token);
    const base = `/api/v1/projects/${project.id}/runs`;
    for (const body of [
      { mode: "auto", from_stage: "paint" },
      { mode: "step", to_stage: "paint" },
      { mode: "fast" },
      {},
      { mode: "step", to_stage: "" },
      { mode: "auto", from_stage: 3 },
    ]) {
      const res = await ctx.call("POST", base, { token: me.token, body });
      expectError(res, 400, "VALIDATION_ERROR", JSON.stringify(body));
    }
    expect(await rowsOf(project.id)).toEqual({ runs: 0, packages: 0 });
  });

  test("to_stage before from_stage is a 4xx even on a project with no package yet, and makes no run or package", async () => {
    const me = await ctx.register();
    const project = await newProject(me.token);
    // "From the keyframes to the storyline" is backwards whatever the project holds.
    const res = await ctx.call("POST", `/api/v1/projects/${project.id}/runs`, {
      token: me.token,
      body: { mode: "step", from_stage: "keyframes", to_stage: "storyline" },
    });
    if (res.status < 400 || res.status >= 500)
      throw new Error(
        `from_stage keyframes, to_stage storyline on a fresh project answered ${res.status}: ${JSON.stringify(res.json).slice(0, 300)}`,
      );
    expect(["CONFLICT", "VALIDATION_ERROR"]).toContain(res.json.error.code);
    expect(await rowsOf(project.id)).toEqual({ runs: 0, packages: 0 });
  });

  test("with a package, a backwards range is 400 and continuing to a stage already behind is 409, making nothing", async () => {
    const me = await ctx.register();
    const project = await newProject(me.token);
    const base = `/api/v1/projects/${project.id}/runs`;
    const first = await ctx.call("POST", base, { token: me.token, body: { mode: "step", to_stage: "art_style" } });
    expect(first.status).toBe(202);
    expect((await ctx.waitForRun(me.token, first.json.data.id, ["paused", "failed"])).status).toBe("paused");
    const rows = await rowsOf(project.id);
    expect(rows).toEqual({ runs: 1, packages: 1 });
    expectError(
      await ctx.call("POST", base, {
        token: me.token,
        body: { mode: "step", from_stage: "art_style", to_stage: "storyline" },
      }),
      400,
      "VALIDATION_ERROR",
      "redo backwards",
    );
    expectError(
      await ctx.call("POST", base, { token: me.token, body: { mode: "step", to_stage: "storyline" } }),
      409,
      "CONFLICT",
      "continue backwards",
    );
    expect(await rowsOf(project.id)).toEqual(rows);
  });

  test("a second run while one is active is 409 CONFLICT; runs on a deleted project are 404; an export before any run is 409", async () => {
    const me = await ctx.register();
    const project = await newProject(me.token);
    const base = `/api/v1/projects/${project.id}/runs`;
    const none = await ctx.call("POST", `/api/v1/projects/${project.id}/exports`, { token: me.token, body: {} });
    expectError(none, 409, "CONFLICT", "export before any run");
    expect(await ctx.db.selectFrom("exports").select("id").where("project_id", "=", project.id).execute()).toEqual([]);

    const first = await ctx.call("POST", base, { token: me.token, body: { mode: "step", to_stage: "characters" } });
    expect(first.status).toBe(202);
    const second = await ctx.call("POST", base, { token: me.token, body: { mode: "auto" } });
    expectError(second, 409, "CONFLICT", "second run");
    expect(second.json.error.details.run_id).toBe(first.json.data.id);
    const redo = await ctx.call("POST", base, { token: me.token, body: { mode: "auto", from_stage: "storyline" } });
    expectError(redo, 409, "CONFLICT", "redo while running");
    expect((await ctx.db.selectFrom("runs").select("id").where("project_id", "=", project.id).execute()).length).toBe(
      1,
    );
    expect(
      (await ctx.db.selectFrom("packages").select("id").where("project_id", "=", project.id).execute()).length,
    ).toBe(1);
    // Concurrent starts: exactly one wins.
    await ctx.waitForRun(me.token, first.json.data.id, ["paused", "failed"]);
    const racing = await Promise.all(
      [1, 2, 3, 4].map(() => ctx.call("POST", base, { token: me.token, body: { mode: "step", to_stage: "scenes" } })),
    );
    expect(racing.map((r) => r.status).sort()).toEqual([202, 409, 409, 409]);
    const winner = racing.find((r) => r.status === 202)!.json.data.id;
    await ctx.waitForRun(me.token, winner, ["paused", "failed"]);

    expect((await ctx.call("DELETE", `/api/v1/projects/${project.id}`, { token: me.token })).status).toBe(200);
    expectError(
      await ctx.call("POST", base, { token: me.token, body: { mode: "auto" } }),
      404,
      "NOT_FOUND",
      "run on a deleted project",
    );
    expectError(
      await ctx.call("POST", `/api/v1/projects/${project.id}/exports`, { token: me.token, body: {} }),
      404,
      "NOT_FOUND",
      "export of a deleted project",
    );
    expectError(
      await ctx.call("GET", `/api/v1/runs/${winner}`, { token: me.token }),
      404,
      "NOT_FOUND",
      "run of a deleted project",
    );
  });

  test("cancel mid-run: the run and its unfinished stages are cancelled, no job of it remains, the project is editable", async () => {
    const me = await ctx.register();
    const project = await newProject(me.token);
    const started = await ctx.call("POST", `/api/v1/projects/${project.id}/runs`, {
      token: me.token,
      body: { mode: "auto" },
    });
    expect(started.status).toBe(202);
    const runId = started.json.data.id;
    const midway = await waitUntil(
      "the voices or clips stage to run",
      async () => {
        const run = (await ctx.call("GET", `/api/v1/runs/${runId}`, { token: me.token })).json.data;
        if (!["queued", "running"].includes(run.status)) throw new Error(`run ended ${run.status} before voices ran`);
        const s = run.stages.find(
          (x: { stage: string; status: string }) =>
            (x.stage === "voices" || x.stage === "clips") && x.status === "running",
        );
        return s ? run : null;
      },
      WAIT_MS,
      20,
    );
    expect(midway.status).toBe("running");
    const cancelled = await ctx.call("POST", `/api/v1/runs/${runId}/cancel`, { token: me.token });
    expect(cancelled.status).toBe(200);
    expect(cancelled.json.data.status).toBe("cancelled");

    await waitUntil("no job of the run to remain", async () => (await runJobs(runId)) === 0, 8000);
    const run = (await ctx.call("GET", `/api/v1/runs/${runId}`, { token: me.token })).json.data;
    expect(run.status).toBe("cancelled");
    expect(run.finished_at).not.toBeNull();
    const byStage = Object.fromEntries(run.stages.map((s: { stage: string; status: string }) => [s.stage, s.status]));
    // What had finished stays completed; what was running or waiting is cancelled.
    for (const stage of ["storyline", "art_style", "characters", "scenes", "storyboard", "keyframes"])
      expect(byStage[stage]).toBe("completed");
    for (const stage of ["clips", "music", "export"]) expect(byStage[stage]).toBe("cancelled");
    expect(["cancelled", "completed"]).toContain(byStage.voices);
    expect(run.stages.some((s: { status: string }) => s.status === "running" || s.status === "pending")).toBe(false);
    expect(run.export_id).toBeNull();
    const p = (await ctx.call("GET", `/api/v1/projects/${project.id}`, { token: me.token })).json.data;
    expect(p.status).toBe("editing");
    // A second cancel is 409.
    expectError(
      await ctx.call("POST", `/api/v1/runs/${runId}/cancel`, { token: me.token }),
      409,
      "CONFLICT",
      "second cancel",
    );
    // The project is free for edits and for a new run.
    const again = await ctx.call("POST", `/api/v1/projects/${project.id}/runs`, {
      token: me.token,
      body: { mode: "auto" },
    });
    expect(again.status).toBe(202);
    expect((await ctx.call("POST", `/api/v1/runs/${again.json.data.id}/cancel`, { token: me.token })).status).toBe(200);
    await waitUntil("no job of the second run to remain", async () => (await runJobs(again.json.data.id)) === 0, 8000);
    // Still cancelled after the workers have since started and drained another run: no late job brought it back.
    expect((await ctx.call("GET", `/api/v1/runs/${runId}`, { token: me.token })).json.data).toMatchObject({
      status: "cancelled",
      stages: run.stages,
    });
    expect(await runJobs(runId)).toBe(0);
  });
});

// One finished project for the timeline tests, made on first use.
let finishedOnce: Promise<{ token: string; projectId: string; packageId: string }> | null = null;
const finished = () =>
  (finishedOnce ??= (async () => {
    const me = await ctx.register();
    const { project, run } = await completedProject(ctx, me.token);
    return { token: me.token, projectId: project.id, packageId: run.package_id as string };
  })());

describe("timeline edits", () => {
  test("unknown clips are 404; a duration shorter than the speech, bad configs and bad reorders are 400", async () => {
    const { token, projectId } = await finished();
    const me = { token };
    const project = { id: projectId };
    const base = `/api/v1/projects/${project.id}/timeline`;
    const before = (await ctx.call("GET", base, { token: me.token })).json.data;
    const ids: string[] = before.clips.map((c: { id: string }) => c.id);

    for (const [method, path, body] of [
      ["PUT", `${base}/clips/no-such-clip/narration`, { text_content: "新的旁白。" }],
      ["PUT", `${base}/clips/no-such-clip/duration`, { duration: 10 }],
      ["PUT", `${base}/clips/no-such-clip/edit-config`, { filter_type: "sepia" }],
      ["PUT", `${base}/clips/${ids[0]}/dialogue/no-such-line`, { text_content: "新的台词。" }],
      ["DELETE", `${base}/clips/no-such-clip`, undefined],
    ] as const) {
      expectError(
        await ctx.call(method, path, { token: me.token, ...(body ? { body } : {}) }),
        404,
        "NOT_FOUND",
        `${method} ${path}`,
      );
    }
    // A clip id that is not an id at all.
    expectError(
      await ctx.call("PUT", `${base}/clips/${"x".repeat(65)}/duration`, { token: me.token, body: { duration: 10 } }),
      400,
      "VALIDATION_ERROR",
      "overlong clip id",
    );

    // Shorter than what is said in it.
    const talky = before.clips.reduce(
      (a: { lines: Array<{ duration_s: number }> }, b: { lines: Array<{ duration_s: number }> }) =>
        b.lines.reduce((s, l) => s + l.duration_s, 0) > a.lines.reduce((s, l) => s + l.duration_s, 0) ? b : a,
    );
    const short = await ctx.call("PUT", `${base}/clips/${talky.id}/duration`, {
      token: me.token,
      body: { duration: 1 },
    });
    expectError(short, 400, "VALIDATION_ERROR", "duration shorter than the speech");
    expect(fieldPaths(short)).toContain("/duration");
    for (const duration of [0, 0.4, 61, -3, "10"]) {
      expectError(
        await ctx.call("PUT", `${base}/clips/${talky.id}/duration`, { token: me.token, body: { duration } }),
        400,
        "VALIDATION_ERROR",
        `duration ${duration}`,
      );
    }
    for (const body of [
      { filter_type: "psychedelic" },
      { crop_x: 0.1 },
      { crop_x: 0.5, crop_y: 0, crop_width: 0.9, crop_height: 0.5 },
      { zoom_level: 9 },
      { rotation: 720 },
    ]) {
      expectError(
        await ctx.call("PUT", `${base}/clips/${talky.id}/edit-config`, { token: me.token, body }),
        400,
        "VALIDATION_ERROR",
        JSON.stringify(body),
      );
    }
    for (const body of [
      { text_content: "" },
      { text_content: "x".repeat(2001) },
      { text_content: "好", speech_speed: 5 },
    ]) {
      expectError(
        await ctx.call("PUT", `${base}/clips/${talky.id}/narration`, { token: me.token, body }),
        400,
        "VALIDATION_ERROR",
        JSON.stringify(body).slice(0, 60),
      );
    }

    // Reorders that do not list every clip exactly once.
    for (const clipIds of [
      ids.slice(1),
      [...ids, ids[0]],
      [ids[0], ...ids.slice(0, -1)],
      [...ids.slice(0, -1), "no-such-clip"],
      [],
    ]) {
      const res = await ctx.call("POST", `${base}/reorder`, { token: me.token, body: { clip_ids: clipIds } });
      expectError(res, 400, "VALIDATION_ERROR", `reorder ${JSON.stringify(clipIds)}`);
    }
    // Nothing changed.
    expect((await ctx.call("GET", base, { token: me.token })).json.data).toEqual(before);
    // A correct reorder works.
    const reversed = [...ids].reverse();
    const ok = await ctx.call("POST", `${base}/reorder`, { token: me.token, body: { clip_ids: reversed } });
    expect(ok.status).toBe(200);
    expect(ok.json.data.clips.map((c: { id: string }) => c.id)).toEqual(reversed);
  });

  test("NULs in timeline and package edits never cause a 500", async () => {
    const { token, projectId, packageId } = await finished();
    const timeline = (await ctx.call("GET", `/api/v1/projects/${projectId}/timeline`, { token })).json.data;
    const clip = timeline.clips.find((c: { lines: Array<{ kind: string }> }) =>
      c.lines.some((l) => l.kind === "dialogue"),
    );
    const line = clip.lines.find((l: { kind: string }) => l.kind === "dialogue");
    const base = `/api/v1/projects/${projectId}/timeline/clips/${clip.id}`;
    const attempts: Array<[string, string, string, unknown]> = [
      ["NUL in a narration", "PUT", `${base}/narration`, { text_content: "雨夜\u0000茶馆" }],
      ["NUL in a dialogue line", "PUT", `${base}/dialogue/${line.id}`, { text_content: "\u0000" }],
      ["NUL in a voice id", "PUT", `${base}/narration`, { text_content: "雨夜茶馆。", voice_id: "narrator\u0000" }],
      ["NUL in a package name", "PUT", `/api/v1/material-packages/${packageId}`, { package_name: "v\u0000" }],
      [
        "NUL in a saved copy's name",
        "POST",
        `/api/v1/material-packages/${packageId}/save-new`,
        { package_name: "copy\u0000" },
      ],
    ];
    const failures: string[] = [];
    for (const [what, method, path, body] of attempts) {
      const res = await ctx.call(method, path, { token, body });
      if (res.status >= 500)
        failures.push(`${what}: ${method} ${path} answered ${res.status} ${res.json?.error?.code}`);
      else if (res.status >= 400) expect(res.json.error.code).toBe("VALIDATION_ERROR");
    }
    expect(failures).toEqual([]);
  });
});
