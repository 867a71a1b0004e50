import { sql } from "kysely";
import type { ComfyGraph, ComfyWorkflowKind } from "../../core/comfy-workflow.ts";
import type { Db } from "../../db/client.ts";
import img2img from "./workflows/img2img.json" with { type: "json" };
import img2vid from "./workflows/img2vid.json" with { type: "json" };
import txt2img from "./workflows/txt2img.json" with { type: "json" };

/** A workflow as a model uses it. */
export interface ComfyWorkflow {
  name: string;
  kind: ComfyWorkflowKind;
  graph: ComfyGraph;
  source: "shipped" | "uploaded";
  description: string | null;
  updatedAt: Date | null;
}

/** The workflows in the repository (src/providers/comfyui/workflows/*.json); an uploaded one of the same name replaces one. */
export const SHIPPED: readonly ComfyWorkflow[] = [
  {
    name: "txt2img",
    kind: "text_to_image",
    graph: txt2img as unknown as ComfyGraph,
    source: "shipped",
    description: "SDXL base: text to image (CheckpointLoaderSimple, CLIPTextEncode, KSampler, SaveImage)",
    updatedAt: null,
  },
  {
    name: "img2img",
    kind: "image_to_image",
    graph: img2img as unknown as ComfyGraph,
    source: "shipped",
    description: "SDXL base: the reference image redrawn to the prompt (LoadImage, VAEEncode, KSampler at 0.7)",
    updatedAt: null,
  },
  {
    name: "img2vid",
    kind: "image_to_video",
    graph: img2vid as unknown as ComfyGraph,
    source: "shipped",
    description: "Stable Video Diffusion XT: the keyframe animated (SVD_img2vid_Conditioning, SaveVideo as MP4)",
    updatedAt: null,
  },
];

/** The shipped workflows as a provider's models (the built-in provider's list before any upload). */
export const SHIPPED_MODELS = {
  image: SHIPPED.filter((w) => w.kind !== "image_to_video").map((w) => w.name),
  video: SHIPPED.filter((w) => w.kind === "image_to_video").map((w) => w.name),
};

/** The default workflow of each kind: what a call of that kind uses when the model's workflow is of another. */
export const DEFAULT_WORKFLOW: Record<ComfyWorkflowKind, string> = {
  text_to_image: "txt2img",
  image_to_image: "img2img",
  image_to_video: "img2vid",
};

/** Which capability's models a workflow of this kind is. */
export const CAPABILITY_OF: Record<ComfyWorkflowKind, "image" | "video"> = {
  text_to_image: "image",
  image_to_image: "image",
  image_to_video: "video",
};

type Row = {
  name: string;
  kind: ComfyWorkflowKind;
  description: string | null;
  graph: ComfyGraph;
  updated_at: Date;
};
const fromRow = (r: Row): ComfyWorkflow => ({
  name: r.name,
  kind: r.kind,
  graph: r.graph,
  source: "uploaded",
  description: r.description,
  updatedAt: r.updated_at,
});

async function uploadedWorkflow(db: Db, name: string): Promise<ComfyWorkflow | null> {
  const row = await db
    .selectFrom("comfyui_workflows")
    .select(["name", "kind", "description", "graph", "updated_at"])
    .where("name", "=", name)
    .executeTakeFirst();
  return row ? fromRow(row) : null;
}

/** A workflow by name: the uploaded one, else the shipped one; null when neither exists. */
export async function findWorkflow(db: Db, name: string): Promise<ComfyWorkflow | null> {
  return (await uploadedWorkflow(db, name)) ?? SHIPPED.find((w) => w.name === name) ?? null;
}

/** Every workflow, uploaded ones replacing shipped ones of the same name, by name. */
export async function listWorkflows(db: Db): Promise<ComfyWorkflow[]> {
  const rows = await db
    .selectFrom("comfyui_workflows")
    .select(["name", "kind", "description", "graph", "updated_at"])
    .orderBy("name")
    .execute();
  const uploaded = rows.map(fromRow);
  const names = new Set(uploaded.map((w) => w.name));
  return [...uploaded, ...SHIPPED.filter((w) => !names.has(w.name))].sort((a, b) => a.name.localeCompare(b.name));
}

/** Saves (or replaces) an uploaded workflow; says whether it is new. */
export async function saveWorkflow(
  db: Db,
  w: { name: string; kind: ComfyWorkflowKind; graph: ComfyGraph; description: string | null; userId: string | null },
): Promise<{ created: boolean; workflow: ComfyWorkflow }> {
  const row = await db
    .insertInto("comfyui_workflows")
    .values({
      name: w.name,
      kind: w.kind,
      graph: JSON.stringify(w.graph),
      description: w.description,
      updated_by: w.userId,
    })
    .onConflict((oc) =>
      oc.column("name").doUpdateSet({
        kind: w.kind,
        graph: JSON.stringify(w.graph),
        description: w.description,
        updated_by: w.userId,
        updated_at: sql<Date>`now()`,
      }),
    )
    .returning(["name", "kind", "description", "graph", "updated_at", sql<boolean>`xmax = 0`.as("created")])
    .executeTakeFirstOrThrow();
  return { created: row.created, workflow: fromRow(row) };
}

/**
 * A ComfyUI provider's models are the workflows: image = the text-to-image and image-to-image
 * ones, video = the image-to-video ones. Written on every comfyui provider row (after an upload,
 * at start-up and when one is created), so chains can name any workflow.
 */
export async function workflowModels(db: Db): Promise<{ image: string[]; video: string[] }> {
  const all = await listWorkflows(db);
  return {
    image: all.filter((w) => CAPABILITY_OF[w.kind] === "image").map((w) => w.name),
    video: all.filter((w) => CAPABILITY_OF[w.kind] === "video").map((w) => w.name),
  };
}

export async function refreshComfyModels(db: Db): Promise<void> {
  const models = await workflowModels(db);
  await db
    .updateTable("providers")
    .set({ models: JSON.stringify(models) })
    .where("kind", "=", "comfyui")
    .execute();
}
