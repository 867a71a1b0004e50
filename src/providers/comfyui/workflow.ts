import type { ComfyGraph, ComfyInput, ComfyNode, ComfyWorkflowKind } from "../../core/comfy-workflow.ts";

/**
 * Workflows in ComfyUI's API format with placeholders: an input whose value is exactly
 * `"{{seed}}"` becomes the call's value with its type (a number for seed, width, height, frames,
 * fps); a longer string with placeholders inside (`"masterpiece, {{prompt}}"`) has them replaced
 * as text. `{{image}}` is the name ComfyUI gave the uploaded reference or keyframe (POST
 * /upload/image), for a LoadImage node's `image` input.
 */
export const PLACEHOLDERS = ["prompt", "negative_prompt", "seed", "width", "height", "image", "frames", "fps"] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

const NUMERIC: ReadonlySet<Placeholder> = new Set(["seed", "width", "height", "frames", "fps"]);

/** What each kind of workflow must contain: without them the call's options would not reach the graph. */
export const REQUIRED: Record<ComfyWorkflowKind, Placeholder[]> = {
  text_to_image: ["prompt", "seed", "width", "height"],
  image_to_image: ["prompt", "seed", "image"],
  image_to_video: ["image", "frames"],
};

/** The limits of a workflow an ADMIN saves. */
export const WORKFLOW_LIMITS = { bytes: 256 * 1024, nodes: 500, nodeId: 64, classType: 200 } as const;

/** Node classes that write a result ComfyUI lists in /history (core and VideoHelperSuite names). */
const OUTPUT_NODE = /^(Save|Preview)|VideoCombine/i;

const TOKEN = /\{\{\s*([a-z_]+)\s*\}\}/g;

/** One thing wrong with a workflow, ComfyUI's way (execution.py: node_errors), with the JSON path of the field. */
export interface WorkflowProblem {
  path: string;
  message: string;
  node?: { id: string; class_type: string | null };
}

const isLink = (v: unknown): v is [string, number] =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === "string" && Number.isInteger(v[1]) && (v[1] as number) >= 0;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Every placeholder a string names. */
function tokensOf(s: string): string[] {
  return [...s.matchAll(TOKEN)].map((m) => m[1]!);
}

/** The placeholders a graph uses, in PLACEHOLDERS order. */
export function placeholdersOf(graph: ComfyGraph): Placeholder[] {
  const seen = new Set<string>();
  for (const node of Object.values(graph))
    for (const v of Object.values(node.inputs)) if (typeof v === "string") for (const t of tokensOf(v)) seen.add(t);
  return PLACEHOLDERS.filter((p) => seen.has(p));
}

/**
 * Checks a graph in API format for its kind: an object of nodes, each with a `class_type` and an
 * `inputs` object whose links name nodes of the graph (no node feeding itself, no cycle), known
 * placeholders only, the kind's required ones present, and a node that saves a result. Every
 * problem names its node (id and class_type). Returns the graph typed when there is none.
 */
export function checkWorkflow(
  raw: unknown,
  kind: ComfyWorkflowKind,
): { graph: ComfyGraph; problems: [] } | { graph: null; problems: WorkflowProblem[] } {
  const problems: WorkflowProblem[] = [];
  if (!isObject(raw)) return { graph: null, problems: [{ path: "/graph", message: "must be an object of nodes" }] };
  const ids = Object.keys(raw);
  if (ids.length === 0) return { graph: null, problems: [{ path: "/graph", message: "has no nodes" }] };
  if (ids.length > WORKFLOW_LIMITS.nodes)
    return { graph: null, problems: [{ path: "/graph", message: `has more than ${WORKFLOW_LIMITS.nodes} nodes` }] };
  const used = new Set<string>();
  let outputs = 0;
  for (const id of ids) {
    const node: unknown = raw[id];
    const at = `/graph/${id}`;
    const classType = isObject(node) && typeof node.class_type === "string" ? node.class_type : null;
    const named = `node "${id}"${classType ? ` (${classType})` : ""}`;
    const refuse = (path: string, message: string) =>
      problems.push({ path, message: `${named}: ${message}`, node: { id, class_type: classType } });
    if (id.length > WORKFLOW_LIMITS.nodeId || !/^[A-Za-z0-9_:.-]+$/.test(id)) {
      refuse(at, `a node id is 1 to ${WORKFLOW_LIMITS.nodeId} letters, digits or _:.-`);
      continue;
    }
    if (!isObject(node)) {
      refuse(at, "must be an object with class_type and inputs");
      continue;
    }
    if (!classType || classType.length > WORKFLOW_LIMITS.classType) {
      refuse(`${at}/class_type`, "class_type is missing (the API format names every node's class)");
      continue;
    }
    if (!isObject(node.inputs)) {
      refuse(`${at}/inputs`, "inputs is missing or not an object");
      continue;
    }
    if (OUTPUT_NODE.test(classType)) outputs++;
    for (const [name, value] of Object.entries(node.inputs as Record<string, unknown>)) {
      const path = `${at}/inputs/${name}`;
      if (Array.isArray(value)) {
        if (!isLink(value)) {
          refuse(path, `input "${name}" is a list but not a link [node id, output index]`);
          continue;
        }
        const target: string = value[0];
        if (target === id) refuse(path, `input "${name}" links the node to itself`);
        else if (!(target in raw)) refuse(path, `input "${name}" links node "${target}", which is not in the workflow`);
        continue;
      }
      if (typeof value !== "string") continue;
      for (const token of tokensOf(value)) {
        used.add(token);
        if (!(PLACEHOLDERS as readonly string[]).includes(token))
          refuse(path, `input "${name}" uses {{${token}}}, which is not a placeholder (${PLACEHOLDERS.join(", ")})`);
        else if (NUMERIC.has(token as Placeholder) && value.trim() !== `{{${token}}}`)
          refuse(path, `input "${name}": {{${token}}} is a number and must be the whole value`);
      }
    }
  }
  if (problems.length) return { graph: null, problems };
  const graph = raw as unknown as ComfyGraph;
  const cycle = cycleIn(graph);
  if (cycle)
    problems.push({
      path: `/graph/${cycle}`,
      message: `node "${cycle}" (${graph[cycle]!.class_type}): its links come back to it (a cycle)`,
      node: { id: cycle, class_type: graph[cycle]!.class_type },
    });
  const missing = REQUIRED[kind].filter((p) => !used.has(p));
  if (missing.length)
    problems.push({
      path: "/graph",
      message: `a ${kind} workflow needs ${missing.map((p) => `{{${p}}}`).join(", ")} in some node's inputs`,
    });
  if (outputs === 0)
    problems.push({ path: "/graph", message: "no node saves a result (SaveImage, SaveVideo, VHS_VideoCombine …)" });
  return problems.length ? { graph: null, problems } : { graph, problems: [] };
}

/** A node on a cycle of links, if any (ComfyUI would recurse forever on it). */
function cycleIn(graph: ComfyGraph): string | null {
  const state = new Map<string, 1 | 2>();
  const visit = (id: string): string | null => {
    const s = state.get(id);
    if (s === 2) return null;
    if (s === 1) return id;
    state.set(id, 1);
    for (const v of Object.values(graph[id]?.inputs ?? {})) {
      if (isLink(v) && v[0] in graph) {
        const found = visit(v[0]);
        if (found) return found;
      }
    }
    state.set(id, 2);
    return null;
  };
  for (const id of Object.keys(graph)) {
    const found = visit(id);
    if (found) return found;
  }
  return null;
}

export type PlaceholderValues = Partial<Record<Placeholder, string | number>>;

function fillValue(v: ComfyInput, values: PlaceholderValues): ComfyInput {
  if (typeof v !== "string" || !v.includes("{{")) return v;
  const whole = /^\s*\{\{\s*([a-z_]+)\s*\}\}\s*$/.exec(v);
  if (whole) {
    const value = values[whole[1] as Placeholder];
    return value === undefined ? "" : value;
  }
  return v.replace(TOKEN, (_, name: string) => String(values[name as Placeholder] ?? ""));
}

/** The graph with the call's values in place of its placeholders (an absent value is empty text). */
export function fillWorkflow(graph: ComfyGraph, values: PlaceholderValues): ComfyGraph {
  const out: ComfyGraph = {};
  for (const [id, node] of Object.entries(graph)) {
    const inputs: ComfyNode["inputs"] = {};
    for (const [name, v] of Object.entries(node.inputs)) inputs[name] = fillValue(v, values);
    out[id] = { ...node, inputs };
  }
  return out;
}
