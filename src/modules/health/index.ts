import { Elysia, t } from "elysia";
import { sql } from "kysely";
import type { Deps } from "../../deps.ts";
import { queueDepth } from "../../queue/index.ts";

const CHECK_TIMEOUT_MS = 2000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error("timed out")), ms).unref()),
  ]);
}

export const HealthSchema = t.Object({
  status: t.Union([t.Literal("ok"), t.Literal("degraded")]),
  database: t.Union([t.Literal("connected"), t.Literal("disconnected")]),
  storage: t.Union([t.Literal("connected"), t.Literal("disconnected")]),
  queue: t.Object({ ready: t.Integer(), running: t.Integer(), waiting: t.Integer() }),
  uptime_s: t.Integer(),
});

export async function checkHealth(deps: Deps) {
  const [database, storage] = await Promise.all([
    withTimeout(sql`select 1`.execute(deps.db), CHECK_TIMEOUT_MS).then(
      () => "connected" as const,
      () => "disconnected" as const,
    ),
    withTimeout(deps.storage.check(), CHECK_TIMEOUT_MS).then(
      (ok) => (ok ? ("connected" as const) : ("disconnected" as const)),
      () => "disconnected" as const,
    ),
  ]);
  const unknown = { ready: 0, running: 0, waiting: 0 };
  const queue =
    database === "connected" ? await withTimeout(queueDepth(deps.db), CHECK_TIMEOUT_MS).catch(() => unknown) : unknown;
  const status = database === "connected" && storage === "connected" ? ("ok" as const) : ("degraded" as const);
  return { status, database, storage, queue, uptime_s: Math.floor((Date.now() - deps.startedAt) / 1000) };
}

export function healthModule(deps: Deps) {
  return new Elysia({ tags: ["operations"] }).get(
    "/health",
    async ({ set }) => {
      const data = await checkHealth(deps);
      if (data.status !== "ok") set.status = 503;
      return { success: data.status === "ok", data, message: data.status };
    },
    {
      response: {
        200: t.Object({ success: t.Boolean(), data: HealthSchema, message: t.String() }),
        503: t.Object({ success: t.Boolean(), data: HealthSchema, message: t.String() }),
      },
      detail: {
        summary: "Liveness and dependencies",
        description: '503 with status "degraded" when Postgres or storage is down.',
      },
    },
  );
}
