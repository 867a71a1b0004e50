import { Elysia, t } from "elysia";
import type { Deps } from "../../deps.ts";
import { authGuard } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok, PageOf, PageQuery } from "../../http/envelope.ts";
import * as jobs from "./service.ts";

const State = t.Union([
  t.Literal("waiting"),
  t.Literal("ready"),
  t.Literal("running"),
  t.Literal("completed"),
  t.Literal("failed"),
  t.Literal("cancelled"),
]);
const iso = t.Nullable(t.String({ format: "date-time" }));

export const JobSchema = t.Object({
  id: t.String({ format: "uuid" }),
  queue: t.String(),
  kind: t.String(),
  state: State,
  payload: t.Unknown(),
  priority: t.Integer(),
  attempt: t.Integer(),
  max_attempts: t.Integer(),
  progress: t.Integer(),
  progress_message: t.Nullable(t.String()),
  result: t.Unknown(),
  last_error: t.Unknown(),
  unique_key: t.Nullable(t.String()),
  concurrency_key: t.Nullable(t.String()),
  created_at: t.String({ format: "date-time" }),
  started_at: iso,
  run_at: iso,
  finished_at: iso,
});

const Params = t.Object({ id: t.String({ format: "uuid" }) });
const Query = t.Composite([
  PageQuery,
  t.Object({
    state: t.Optional(State),
    queue: t.Optional(t.String({ maxLength: 64 })),
    kind: t.Optional(t.String({ maxLength: 128 })),
  }),
]);
const security = [{ bearer: [] }];

/** Operations on the job queue, for ADMINs. */
export function jobsModule(deps: Deps) {
  const { db } = deps;
  return new Elysia({ prefix: "/api/v1/admin/jobs", tags: ["operations"] })
    .use(authGuard(deps))
    .get(
      "",
      async ({ query }) => {
        const { page = 1, page_size = 20, ...filter } = query;
        return ok(await jobs.listJobs(db, filter, page, page_size));
      },
      {
        admin: true,
        query: Query,
        response: { 200: Envelope(PageOf(JobSchema)), ...ErrorResponses },
        detail: { summary: "List jobs by state, queue and kind (ADMIN)", security },
      },
    )
    .get(
      "/:id",
      async ({ params }) => {
        return ok(await jobs.getJob(db, params.id));
      },
      {
        admin: true,
        params: Params,
        response: { 200: Envelope(JobSchema), ...ErrorResponses },
        detail: { summary: "Get one job, live or finished (ADMIN)", security },
      },
    )
    .post(
      "/:id/retry",
      async ({ params }) => {
        return ok(await jobs.retry(db, params.id));
      },
      {
        admin: true,
        params: Params,
        response: { 200: Envelope(JobSchema), ...ErrorResponses },
        detail: { summary: "Re-drive a failed or cancelled job with a fresh attempt budget (ADMIN)", security },
      },
    )
    .post(
      "/:id/cancel",
      async ({ params }) => {
        return ok(await jobs.cancel(db, params.id));
      },
      {
        admin: true,
        params: Params,
        response: {
          200: Envelope(
            t.Composite([
              JobSchema,
              t.Object({ cancellation: t.Union([t.Literal("cancelled"), t.Literal("cancelling")]) }),
            ]),
          ),
          ...ErrorResponses,
        },
        detail: {
          summary: "Cancel a job (ADMIN)",
          description:
            "A waiting or ready job is cancelled at once; a running one is aborted (its handler's signal fires within a second).",
          security,
        },
      },
    );
}
