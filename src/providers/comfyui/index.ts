/** The ComfyUI provider: images and clips from a self-hosted ComfyUI server, through API-format workflows. */

export { type ComfyConnectionOptions, connectComfy } from "./connect.ts";
export { type ComfyNodeError, type ComfyPhase, ComfyUIProviderError } from "./errors.ts";
export { type ComfyImageModel, type ComfyImageOptions, type ComfyImageSettings, createComfyImage } from "./image.ts";
export { reportJobProgress } from "./job-progress.ts";
export { pgPromptStore } from "./pg-store.ts";
export type { ComfyProgress } from "./progress.ts";
export { type ComfyPromptRef, type ComfyPromptStore, memoryPromptStore } from "./prompt-store.ts";
export { type ComfyVideoModel, type ComfyVideoOptions, type ComfyVideoSettings, createComfyVideo } from "./video.ts";
export { checkWorkflow, PLACEHOLDERS, REQUIRED, WORKFLOW_LIMITS, type WorkflowProblem } from "./workflow.ts";
export {
  type ComfyWorkflow,
  findWorkflow,
  listWorkflows,
  refreshComfyModels,
  SHIPPED,
  saveWorkflow,
  workflowModels,
} from "./workflow-store.ts";
