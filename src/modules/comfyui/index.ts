import { Elysia } from "elysia";
import { page } from "../../core/page.ts";
import type { Deps } from "../../deps.ts";
import { authGuard } from "../../http/auth-guard.ts";
import { Envelope, ErrorEnvelope, ErrorResponses, ok, PageOf, PageQuery } from "../../http/envelope.ts";
import * as admin from "../../providers/admin/index.ts";
import { ProviderViewSchema } from "../../schemas/providers.ts";
import { ComfyProviderBody, WorkflowBody, WorkflowParams, WorkflowSchema } from "./model.ts";

const security = [{ bearer: [] }];

/**
 * ComfyUI for ADMINs: custom ComfyUI servers, and the API-format workflows every ComfyUI provider
 * offers as its models (shipped ones, and uploads checked node by node when saved).
 */
export function comfyuiModule(deps: Deps) {
  const { db, config, log } = deps;
  const audit = (msg: string, fields: Record<string, unknown>) => log.info(msg, { audit: true, ...fields });
  return new Elysia({ prefix: "/api/v1/admin/providers/comfyui", tags: ["providers"] })
    .use(authGuard(deps))
    .post(
      "",
      async ({ body, caller, set }) => {
        const view = await admin.createComfyProvider(db, config, caller.user.id, body);
        audit("provider created", { admin_id: caller.user.id, provider: view.id, kind: "comfyui" });
        set.status = 201;
        return ok(view, "provider created");
      },
      {
        admin: true,
        body: ComfyProviderBody,
        response: { 201: Envelope(ProviderViewSchema), ...ErrorResponses },
        detail: {
          summary: "Add a custom ComfyUI server (ADMIN)",
          description:
            "Its models are the ComfyUI workflows (GET /api/v1/admin/providers/comfyui/workflows); the URL passes the same SSRF check as a custom OpenAI-compatible endpoint.",
          security,
        },
      },
    )
    .get(
      "/workflows",
      async ({ query }) => {
        const { page: pageNo = 1, page_size = 20 } = query;
        const all = await admin.workflowViews(db);
        return ok(page(all.slice((pageNo - 1) * page_size, pageNo * page_size), all.length, pageNo, page_size));
      },
      {
        admin: true,
        query: PageQuery,
        response: { 200: Envelope(PageOf(WorkflowSchema)), ...ErrorResponses },
        detail: { summary: "List the ComfyUI workflows, shipped and uploaded (ADMIN)", security },
      },
    )
    .get(
      "/workflows/:name",
      async ({ params }) => {
        return ok(await admin.getWorkflowView(db, params.name));
      },
      {
        admin: true,
        params: WorkflowParams,
        response: { 200: Envelope(WorkflowSchema), ...ErrorResponses },
        detail: { summary: "Get a ComfyUI workflow with its graph (ADMIN)", security },
      },
    )
    .put(
      "/workflows/:name",
      async ({ params, body, caller, set }) => {
        const { created, workflow } = await admin.putWorkflow(db, caller.user.id, params.name, body, config);
        audit(created ? "comfyui workflow created" : "comfyui workflow replaced", {
          admin_id: caller.user.id,
          workflow: workflow.name,
          kind: workflow.kind,
        });
        set.status = created ? 201 : 200;
        return ok(workflow, created ? "workflow created" : "workflow replaced");
      },
      {
        admin: true,
        params: WorkflowParams,
        body: WorkflowBody,
        response: {
          200: Envelope(WorkflowSchema),
          201: Envelope(WorkflowSchema),
          ...ErrorResponses,
          413: ErrorEnvelope,
        },
        detail: {
          summary: "Upload a ComfyUI workflow in API format (ADMIN)",
          description:
            "Checked before it is saved: every node an object with `class_type` and `inputs`, every link `[node id, output]` to a node of the graph, no cycle, only known placeholders and the ones its kind needs (text_to_image: {{prompt}} {{seed}} {{width}} {{height}}; image_to_image: {{prompt}} {{seed}} {{image}}; image_to_video: {{image}} {{frames}}), a node that saves the result, at most 256 KiB. A refusal is 400 VALIDATION_ERROR naming each wrong node by id and class_type (`details.fields`, `details.node_errors`). A workflow with a shipped one's name replaces it. Every ComfyUI provider offers the workflow as a model of its capability.",
          security,
        },
      },
    );
}
