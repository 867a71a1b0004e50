import type { ComfyWorkflowKind } from "../../core/comfy-workflow.ts";
import { videoFacts } from "../../media/ffmpeg.ts";
import type { ComfyFile, ComfyHistoryEntry } from "./client.ts";
import { ComfyUIProviderError } from "./errors.ts";
import type { ComfyWorkflow } from "./workflow-store.ts";

const isFile = (v: unknown): v is ComfyFile =>
  typeof v === "object" && v !== null && typeof (v as ComfyFile).filename === "string";

/** Every file the prompt's nodes wrote (`images`, `gifs` of VideoHelperSuite, `videos`), saved ones first. */
function filesOf(entry: ComfyHistoryEntry): ComfyFile[] {
  const all = Object.values(entry.outputs ?? {}).flatMap((out) =>
    ["images", "gifs", "videos"].flatMap((k) => (Array.isArray(out?.[k]) ? (out[k] as unknown[]).filter(isFile) : [])),
  );
  return [...all.filter((f) => f.type === "output"), ...all.filter((f) => f.type !== "output")];
}

const VIDEO = /\.(mp4|m4v|mov)$/i;

/** The first image (a picture, not a clip) or the first MP4 the prompt saved. */
export function outputFile(entry: ComfyHistoryEntry, want: "image" | "video", model: string, promptId: string) {
  const files = filesOf(entry);
  const found =
    want === "video"
      ? files.find((f) => VIDEO.test(f.filename) || /mp4/.test(f.format ?? ""))
      : files.find((f) => /\.(png|jpe?g|webp)$/i.test(f.filename));
  if (!found)
    throw new ComfyUIProviderError({
      model,
      retryable: false,
      promptId,
      phase: "result",
      message: `comfyui ${model}: prompt ${promptId} saved no ${want === "video" ? "MP4" : "image"} (outputs of nodes ${Object.keys(entry.outputs ?? {}).join(", ") || "none"})`,
    });
  return found;
}

/** Refuses a workflow of another kind than the call needs: a text-to-image graph has no {{image}} to use. */
export function kindError(model: string, w: ComfyWorkflow, want: ComfyWorkflowKind) {
  return new ComfyUIProviderError({
    model,
    retryable: false,
    message: `comfyui ${model}: workflow "${w.name}" is ${w.kind}; this call needs an ${want} workflow`,
  });
}

/** ffprobe's size and length of a downloaded clip. */
export async function probeClip(bytes: Uint8Array, model: string) {
  try {
    return await videoFacts(bytes);
  } catch (err) {
    throw new ComfyUIProviderError({
      model,
      retryable: false,
      phase: "download",
      message: `comfyui ${model}: the clip is not a readable video: ${(err as Error).message}`,
      cause: err,
    });
  }
}
