/**
 * Where a process spends its time: work inside providers and inside ffmpeg. The pipeline
 * benchmark passes a recorder that collects these intervals; every other process passes nothing
 * and gets `noSpans`, which only runs the work.
 */
export type SpanKind = "provider" | "ffmpeg";

export interface SpanRecorder {
  span<T>(kind: SpanKind, work: () => Promise<T>): Promise<T>;
}

/** The production recorder: the work, untimed. */
export const noSpans: SpanRecorder = Object.freeze({
  span: <T>(_kind: SpanKind, work: () => Promise<T>): Promise<T> => work(),
});
