// Global configuration at run time (seed 000's GET/PATCH /admin/config) on a real Postgres: an
// ADMIN's change is checked with the environment's rules, recorded with who, when, before and
// after, applied by this API at once, and by a separate `inkreel api` and `inkreel worker`
// process (NOTIFY, a one-second poll as backup) without a restart.
import { afterAll, expect, test } from "bun:test";
import { type ApiProcess, spawnApi } from "./support/api-process.ts";
import { type CallResult, createTestContext } from "./support/context.ts";
import { waitUntil } from "./support/pipeline.ts";

/** The environment every process here starts from. */
const ENV = { COMPUTE_LOCAL_USD_PER_IMAGE: "0.01" };
const ctx = await createTestContext(ENV);
const CLI = new URL("../src/cli.ts", import.meta.url).pathname;

const admin = await ctx.register("admin");
await ctx.db.updateTable("users").set({ role: "ADMIN" }).where("id", "=", admin.user.id).execute();

/** A real `inkreel worker` process on the test's database, its log lines collected. */
function spawnWorker() {
  const proc = Bun.spawn([process.execPath, CLI, "worker", "--queues", "default"], {
    env: { ...process.env, ...ENV, DATABASE_URL: ctx.url, DATA_DIR: ctx.config.dataDir, LOG_LEVEL: "info" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) out += decoder.decode(chunk);
  };
  void drain(proc.stdout);
  void drain(proc.stderr);
  return { proc, output: () => out };
}
const worker = spawnWorker();
let api: ApiProcess | null = null;
afterAll(async () => {
  worker.proc.kill("SIGTERM");
  await worker.proc.exited;
  await api?.stop();
});

const imageEstimate = async (call: (path: string, body: unknown) => Promise<Pick<CallResult, "status" | "json">>) => {
  const r = await call("/api/v1/estimates", { kind: "generate", type: "text_to_image", num_images: 1 });
  expect(r.status).toBe(200);
  return r.json.data.points as number;
};

test("an ADMIN's change: checked, recorded, applied here at once and by another API and a worker process", async () => {
  api = await spawnApi(ctx, ENV);
  const remote = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${api!.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${admin.token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: await res.json() };
  };
  const here = (path: string, body: unknown) => ctx.call("POST", path, { token: admin.token, body });
  const there = (path: string, body: unknown) => remote("POST", path, body);
  // The environment's price: a picture at $0.01 is 1 point, in both API processes.
  expect(await imageEstimate(here)).toBe(1);
  expect(await imageEstimate(there)).toBe(1);
  await waitUntil("the worker to start", () => worker.output().includes('"msg":"runtime config applied"') || null);

  const before = await ctx.call("GET", "/api/v1/admin/config", { token: admin.token });
  expect(before.status).toBe(200);
  expect(before.json.data).toMatchObject({ version: 0, overrides: {} });
  expect(before.json.data.values.COMPUTE_LOCAL_USD_PER_IMAGE).toBe("0.01");
  expect(before.json.data.editable).toContain("LIMIT_FREE_BATCHES_PER_HOUR");

  const changed = await ctx.call("PATCH", "/api/v1/admin/config", {
    token: admin.token,
    body: { set: { COMPUTE_LOCAL_USD_PER_IMAGE: "0.05", LIMIT_FREE_MONTHLY_POINTS: 800 } },
  });
  expect(changed.status).toBe(200);
  const sent = performance.now();
  expect(changed.json.data).toMatchObject({
    version: 1,
    applied_version: 1,
    overrides: { COMPUTE_LOCAL_USD_PER_IMAGE: "0.05", LIMIT_FREE_MONTHLY_POINTS: "800" },
  });
  expect(changed.json.data.values).toMatchObject({
    COMPUTE_LOCAL_USD_PER_IMAGE: "0.05",
    LIMIT_FREE_MONTHLY_POINTS: "800",
  });
  expect(await imageEstimate(here)).toBe(5);

  // The other API process: no restart, the new price in its estimates.
  await waitUntil("the other API to apply version 1", async () => {
    const r = await remote("GET", "/api/v1/admin/config");
    return r.json.data.applied_version === 1 || null;
  });
  const otherApiMs = Math.round(performance.now() - sent);
  expect(await imageEstimate(there)).toBe(5);
  await waitUntil(
    "the worker to apply version 1",
    () => /"msg":"runtime config applied"[^\n]*"version":1/.test(worker.output()) || null,
  );
  const workerMs = Math.round(performance.now() - sent);
  console.log(JSON.stringify({ runtime_config_applied_ms: { other_api: otherApiMs, worker: workerMs } }));

  // Back to the environment's value: null.
  const reset = await ctx.call("PATCH", "/api/v1/admin/config", {
    token: admin.token,
    body: { set: { COMPUTE_LOCAL_USD_PER_IMAGE: null } },
  });
  expect(reset.json.data).toMatchObject({ version: 2, overrides: { LIMIT_FREE_MONTHLY_POINTS: "800" } });
  expect(await imageEstimate(here)).toBe(1);

  const history = await ctx.call("GET", "/api/v1/admin/config/history", { token: admin.token });
  expect(history.status).toBe(200);
  expect(history.json.data.items).toMatchObject([
    {
      version: 2,
      actor_id: admin.user.id,
      before: { COMPUTE_LOCAL_USD_PER_IMAGE: "0.05" },
      after: { COMPUTE_LOCAL_USD_PER_IMAGE: null },
    },
    {
      version: 1,
      actor_username: admin.user.username,
      before: { COMPUTE_LOCAL_USD_PER_IMAGE: null, LIMIT_FREE_MONTHLY_POINTS: null },
      after: { COMPUTE_LOCAL_USD_PER_IMAGE: "0.05", LIMIT_FREE_MONTHLY_POINTS: "800" },
    },
  ]);
});

test("bad changes are 400 naming the field and change nothing; only an ADMIN sees or changes the settings", async () => {
  const version = async () =>
    (await ctx.db.selectFrom("runtime_config").select("version").executeTakeFirstOrThrow()).version;
  const start = await version();
  for (const [set, path] of [
    [{ LIMIT_FREE_MONTHLY_POINTS: "-3" }, "/set/LIMIT_FREE_MONTHLY_POINTS"],
    [{ COMPUTE_MARKUP: "lots" }, "/set/COMPUTE_MARKUP"],
    [{ COMPUTE_POINTS_PER_USD: 0 }, "/set/COMPUTE_POINTS_PER_USD"],
    [{ RATE_LIMIT_USER_PER_MIN: "9999999999" }, "/set/RATE_LIMIT_USER_PER_MIN"],
    [{ DATABASE_URL: "postgres://elsewhere/db" }, "/set/DATABASE_URL"],
    [{ JWT_SECRET: "x".repeat(40) }, "/set/JWT_SECRET"],
  ] as const) {
    const r = await ctx.call("PATCH", "/api/v1/admin/config", { token: admin.token, body: { set } });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("VALIDATION_ERROR");
    expect(r.json.error.details.fields.map((f: { path: string }) => f.path)).toContain(path);
  }
  for (const body of [{}, { set: {} }, { set: { COMPUTE_MARKUP: { a: 1 } } }, { set: "COMPUTE_MARKUP=2" }]) {
    const r = await ctx.call("PATCH", "/api/v1/admin/config", { token: admin.token, body });
    expect(r.status).toBe(400);
  }
  expect(await version()).toBe(start);
  // A secret never shows: only the run-time settings are listed.
  const view = await ctx.call("GET", "/api/v1/admin/config", { token: admin.token });
  expect(Object.keys(view.json.data.values)).not.toContain("JWT_SECRET");
  expect(JSON.stringify(view.json.data)).not.toContain(ctx.url);

  const user = await ctx.register("plain");
  for (const [method, path, body] of [
    ["GET", "/api/v1/admin/config", undefined],
    ["PATCH", "/api/v1/admin/config", { set: { COMPUTE_MARKUP: "2" } }],
    ["GET", "/api/v1/admin/config/history", undefined],
  ] as const) {
    const r = await ctx.call(method, path, { token: user.token, ...(body ? { body } : {}) });
    expect(r.status).toBe(403);
    expect((await ctx.call(method, path, body ? { body } : {})).status).toBe(401);
  }
  expect(await version()).toBe(start);
});
