// The ComfyUI side of the registry's admin: custom ComfyUI providers (a server URL, SSRF-checked
// like a custom OpenAI endpoint) and the API-format workflows an ADMIN uploads, checked when saved.
import { CAPABILITIES } from "../../core/capabilities.ts";
import type { ComfyGraph, ComfyWorkflowKind } from "../../core/comfy-workflow.ts";
import { AppError, conflict, type FieldError, notFound, tooLarge } from "../../core/errors.ts";
import type { Db } from "../../db/client.ts";
import { checkWorkflow, placeholdersOf, WORKFLOW_LIMITS, type WorkflowProblem } from "../comfyui/workflow.ts";
import {
  CAPABILITY_OF,
  type ComfyWorkflow,
  findWorkflow,
  listWorkflows,
  refreshComfyModels,
  saveWorkflow,
  workflowModels,
} from "../comfyui/workflow-store.ts";
import { loadRegistry, lock } from "./chains.ts";
import { insertProvider } from "./custom.ts";
import { checkUrl, cleanKey, cleanName, cleanSettings, invalid, seal } from "./settings-input.ts";
import type { AdminConfig, ProviderSettingsInput, ProviderView, UrlCheckOptions } from "./types.ts";

export interface ComfyProviderInput {
  name: string;
  api_url: string;
  /** A bearer token, for a server behind an authenticating proxy. */
  api_key?: string;
  config?: Omit<ProviderSettingsInput, "prices">;
}

/**
 * POST /admin/providers/comfyui: a custom ComfyUI server. Its URL passes the SSRF check (loopback
 * and private hosts only with ALLOW_PRIVATE_PROVIDER_URLS); its models are the workflows.
 */
export async function createComfyProvider(
  db: Db,
  config: AdminConfig,
  userId: string | null,
  body: ComfyProviderInput,
  options: UrlCheckOptions = {},
): Promise<ProviderView> {
  const errors: FieldError[] = [];
  const name = cleanName(body.name, errors);
  const key = body.api_key === undefined ? null : cleanKey(body.api_key, errors);
  const settings = cleanSettings(body.config ?? {}, [], errors, false);
  const baseUrl = await checkUrl(config, body.api_url, "api_url", errors, options);
  if (errors.length || !baseUrl) throw invalid(errors);
  return insertProvider(db, config, {
    name,
    kind: "comfyui",
    baseUrl,
    sealed: key ? await seal(config, key) : null,
    models: await workflowModels(db),
    settings,
    userId,
  });
}

/** What an ADMIN sees of a workflow; `graph` only when one is asked for. */
export interface WorkflowView {
  name: string;
  kind: ComfyWorkflowKind;
  capability: "image" | "video";
  source: "shipped" | "uploaded";
  description: string | null;
  placeholders: string[];
  nodes: number;
  updated_at: string | null;
  graph?: ComfyGraph;
}

export function workflowView(w: ComfyWorkflow, withGraph = false): WorkflowView {
  return {
    name: w.name,
    kind: w.kind,
    capability: CAPABILITY_OF[w.kind],
    source: w.source,
    description: w.description,
    placeholders: placeholdersOf(w.graph),
    nodes: Object.keys(w.graph).length,
    updated_at: w.updatedAt ? w.updatedAt.toISOString() : null,
    ...(withGraph ? { graph: w.graph } : {}),
  };
}

export async function workflowViews(db: Db): Promise<WorkflowView[]> {
  return (await listWorkflows(db)).map((w) => workflowView(w));
}

export async function getWorkflowView(db: Db, name: string): Promise<WorkflowView> {
  const w = await findWorkflow(db, name);
  if (!w) throw notFound("workflow");
  return workflowView(w, true);
}

/** ComfyUI's own shape of what is wrong, by node (execution.py's node_errors), next to the field list. */
function nodeErrors(problems: WorkflowProblem[]) {
  const out: Record<string, { class_type: string | null; errors: Array<{ message: string; path: string }> }> = {};
  for (const p of problems) {
    if (!p.node) continue;
    out[p.node.id] ??= { class_type: p.node.class_type, errors: [] };
    out[p.node.id]!.errors.push({ message: p.message, path: p.path });
  }
  return out;
}

/**
 * PUT /admin/providers/comfyui/workflows/:name: saves (or replaces) a workflow after checking it
 * (workflow.ts: checkWorkflow). A malformed one is a VALIDATION_ERROR whose fields and
 * `node_errors` name each wrong node by id and class_type; one over 256 KiB is PAYLOAD_TOO_LARGE.
 * A name a chain uses keeps its capability (a CONFLICT otherwise). Every ComfyUI provider then
 * offers it as a model.
 */
export async function putWorkflow(
  db: Db,
  userId: string | null,
  name: string,
  body: { kind: ComfyWorkflowKind; graph: unknown; description?: string },
  config: AdminConfig,
): Promise<{ created: boolean; workflow: WorkflowView }> {
  const size = Buffer.byteLength(JSON.stringify(body.graph ?? null));
  if (size > WORKFLOW_LIMITS.bytes) throw tooLarge(WORKFLOW_LIMITS.bytes, "the workflow");
  const checked = checkWorkflow(body.graph, body.kind);
  if (!checked.graph) {
    const fields = checked.problems.map(({ path, message }) => ({ path, message }));
    throw new AppError(
      "VALIDATION_ERROR",
      fields.length === 1 ? fields[0]!.message : `the workflow has ${fields.length} problems: ${fields[0]!.message}; …`,
      { fields, node_errors: nodeErrors(checked.problems) },
    );
  }
  const graph = checked.graph;
  return db.transaction().execute(async (trx) => {
    await lock(trx);
    const before = await findWorkflow(trx, name);
    if (before && CAPABILITY_OF[before.kind] !== CAPABILITY_OF[body.kind]) {
      const { chains, byId } = await loadRegistry(trx, config);
      const using = CAPABILITIES.find((c) =>
        chains[c].some((l) => l.model === name && byId.get(l.provider)?.kind === "comfyui"),
      );
      if (using)
        throw conflict(
          `workflow "${name}" is a model of the ${using} chain; a ${body.kind} workflow would serve ${CAPABILITY_OF[body.kind]}. Change the chain first, or use another name`,
          { workflow: name, capability: using },
        );
    }
    const saved = await saveWorkflow(trx, {
      name,
      kind: body.kind,
      graph,
      description: body.description?.trim() || null,
      userId,
    });
    await refreshComfyModels(trx);
    return { created: saved.created, workflow: workflowView(saved.workflow, true) };
  });
}
