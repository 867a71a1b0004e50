// A ComfyUI workflow in its API format, as the comfyui_workflows table stores it and POST /prompt
// takes it: node id → {class_type, inputs, _meta?}. An input is a literal or a link
// `[source node id, output slot]`.

export type ComfyWorkflowKind = "text_to_image" | "image_to_image" | "image_to_video";

export const COMFY_WORKFLOW_KINDS: readonly ComfyWorkflowKind[] = ["text_to_image", "image_to_image", "image_to_video"];

/** A link to another node's output: `[node id, output index]`. */
export type ComfyLink = [string, number];

export type ComfyInput = string | number | boolean | null | ComfyLink | { [key: string]: unknown };

export interface ComfyNode {
  class_type: string;
  inputs: Record<string, ComfyInput>;
  _meta?: { title?: string };
}

export type ComfyGraph = Record<string, ComfyNode>;
