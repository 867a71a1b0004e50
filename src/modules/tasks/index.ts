import { Elysia, t } from "elysia";
import { TASK_KINDS, TASK_STATUSES, TaskParams, TaskTarget } from "../../core/generation-task.ts";
import { MAX_PAGE } from "../../core/page.ts";
import { literals } from "../../core/schema.ts";
import type { Deps } from "../../deps.ts";
import { authGuard } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok, PageOf } from "../../http/envelope.ts";
import * as tasks from "./service.ts";

const security = [{ bearer: [] }];
const uuid = t.String({ format: "uuid" });
const iso = t.String({ format: "date-time" });
const Kind = literals(TASK_KINDS);
const Status = literals(TASK_STATUSES);

const Task = t.Object({
  id: uuid,
  project_id: uuid,
  package_id: t.Nullable(uuid),
  parent_id: t.Nullable(uuid),
  job_id: t.Nullable(uuid),
  kind: Kind,
  target: TaskTarget,
  params: TaskParams,
  status: Status,
  progress: t.Integer({ minimum: 0, maximum: 100 }),
  result: t.Nullable(
    t.Object({
      assets: t.Array(
        t.Object({
          asset_id: uuid,
          mime_type: t.String(),
          url: t.String({ description: "Signed, expiring link to the file" }),
          expires_at: iso,
        }),
      ),
    }),
  ),
  error: t.Nullable(t.Object({ code: t.String(), message: t.String() })),
  cost_estimate_usd: t.Nullable(
    t.Number({ description: "What the provider is expected to charge at its list price; 0 for local models" }),
  ),
  created_at: iso,
  started_at: t.Nullable(iso),
  finished_at: t.Nullable(iso),
});

const TaskDetail = t.Composite([
  Task,
  t.Object({
    children: t.Array(Task, { description: "A batch's per-clip tasks (empty for other kinds)" }),
    total_clips: t.Integer(),
    completed_clips: t.Integer(),
    failed_clips: t.Integer(),
  }),
]);

/** Generation tasks: what a creator asked to be made outside a run, and how it went. */
export function tasksModule(deps: Deps) {
  return new Elysia({ prefix: "/api/v1", tags: ["tasks"] })
    .use(authGuard(deps))
    .get(
      "/projects/:id/tasks",
      async ({ params, query, caller }) =>
        ok(await tasks.listTasks(deps, { userId: caller.user.id, projectId: params.id }, query)),
      {
        spaceRole: "viewer",
        params: t.Object({ id: uuid }),
        query: t.Object({
          page: t.Optional(t.Integer({ minimum: 1, maximum: MAX_PAGE })),
          page_size: t.Optional(t.Integer({ minimum: 1, maximum: 100 })),
          status: t.Optional(Status),
          kind: t.Optional(Kind),
        }),
        response: { 200: Envelope(PageOf(Task)), ...ErrorResponses },
        detail: {
          summary: "The project's generation tasks (regenerations, clip videos, batches, voices), latest first",
          security,
        },
      },
    )
    .get(
      "/tasks/:id",
      async ({ params, caller }) => ok(await tasks.getTask(deps, { userId: caller.user.id, taskId: params.id })),
      {
        spaceRole: "viewer",
        params: t.Object({ id: uuid }),
        response: { 200: Envelope(TaskDetail), ...ErrorResponses },
        detail: {
          summary:
            "A generation task: status, progress, result with signed links, or the error; a batch with its clips",
          security,
        },
      },
    );
}
