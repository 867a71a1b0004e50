import { Elysia, t } from "elysia";
import type { Deps } from "../../deps.ts";
import { authGuard } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok } from "../../http/envelope.ts";
import { projectUsage, runUsage } from "./service.ts";

const security = [{ bearer: [] }];
const IdParams = t.Object({ id: t.String({ format: "uuid" }) });

/** What calls used and cost. */
const Amounts = {
  input_tokens: t.Integer(),
  output_tokens: t.Integer(),
  images: t.Integer(),
  audio_seconds: t.Number(),
  video_seconds: t.Number(),
  cost_usd: t.Number(),
};
const Who = { capability: t.String(), provider: t.String(), model: t.String() };

const ModelTotals = t.Object({ ...Who, calls: t.Integer(), failed: t.Integer(), ...Amounts });
const Totals = {
  total_cost_usd: t.Number(),
  calls: t.Integer(),
  failed_calls: t.Integer(),
  by_model: t.Array(ModelTotals),
};

const ProjectUsage = t.Object({
  project_id: t.String(),
  ...Totals,
  by_run: t.Array(t.Object({ run_id: t.Nullable(t.String()), calls: t.Integer(), cost_usd: t.Number() })),
});

const RunUsage = t.Object({
  run_id: t.String(),
  ...Totals,
  failovers: t.Array(
    t.Object({
      at: t.Date(),
      stage: t.Nullable(t.String()),
      shot_id: t.Nullable(t.String()),
      capability: t.String(),
      from: t.Object({ provider: t.String(), model: t.String() }),
      error: t.Nullable(t.String()),
    }),
  ),
  calls: t.Array(
    t.Object({
      id: t.String(),
      created_at: t.Date(),
      stage: t.Nullable(t.String()),
      shot_id: t.Nullable(t.String()),
      ...Who,
      outcome: t.Union([t.Literal("ok"), t.Literal("failed")]),
      failed_over: t.Boolean(),
      error: t.Nullable(t.String()),
      request_id: t.Nullable(t.String()),
      ...Amounts,
      duration_ms: t.Integer(),
    }),
  ),
});

/** The cost ledger, per project and per run (anyone who may see the project). */
export function usageModule(deps: Deps) {
  const { db } = deps;
  return new Elysia({ prefix: "/api/v1", tags: ["usage"] })
    .use(authGuard(deps))
    .get(
      "/projects/:id/usage",
      async ({ params, caller }) => ok(await projectUsage(db, { userId: caller.user.id, projectId: params.id })),
      {
        spaceRole: "viewer",
        params: IdParams,
        response: { 200: Envelope(ProjectUsage), ...ErrorResponses },
        detail: { summary: "A project's provider usage and cost, per model and per run", security },
      },
    )
    .get(
      "/runs/:id/usage",
      async ({ params, caller }) => ok(await runUsage(db, { userId: caller.user.id, runId: params.id })),
      {
        spaceRole: "viewer",
        params: IdParams,
        response: { 200: Envelope(RunUsage), ...ErrorResponses },
        detail: { summary: "A run's provider calls, cost and failovers", security },
      },
    );
}
