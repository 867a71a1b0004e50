/**
 * Where a process spends its time: work inside providers and inside ffmpeg. The pipeline
 * benchmark passes a recorder that collects these intervals; every other process passes nothing
 * and gets `noSpans`, which only runs the work.
 */
export type SpanKind = "provider" | "ffmpeg";

export interface SpanRecorder {
  /** `label`: what the span was (a provider call's capability: "image", "speech", …). */
  span<T>(kind: SpanKind, work: () => Promise<T>, label?: string): Promise<T>;
}

/** The production recorder: the work, untimed. */
export const noSpans: SpanRecorder = Object.freeze({
  span: <T>(_kind: SpanKind, work: () => Promise<T>, _label?: string): Promise<T> => work(),
});
