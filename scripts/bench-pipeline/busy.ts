/**
 * The pipeline benchmark's span recorder: intervals spent inside providers and inside ffmpeg,
 * merged so concurrent work is counted once, to tell orchestration overhead from real work.
 */
import type { SpanKind, SpanRecorder } from "../../src/metrics/spans.ts";

const MAX_SPANS = 200_000;

export interface BusySummary {
  /** Seconds inside providers. */
  provider_s: number;
  /** Seconds inside ffmpeg outside any provider call (the composer's). */
  ffmpeg_s: number;
  /** Seconds inside either. */
  busy_s: number;
  /** Milliseconds of each image call (keyframes, reference sheets, the poster: all painted alike), in order. */
  image_ms: number[];
}

function union(list: Array<[number, number]>): number {
  const sorted = [...list].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let end = -Infinity;
  let start = -Infinity;
  for (const [a, b] of sorted) {
    if (a > end) {
      if (end > start) total += end - start;
      start = a;
      end = b;
    } else end = Math.max(end, b);
  }
  if (end > start) total += end - start;
  return total;
}

export function createBusyRecorder(): SpanRecorder & { summary(): BusySummary } {
  const spans: Record<SpanKind, Array<[number, number]>> = { provider: [], ffmpeg: [] };
  const images: number[] = [];
  return {
    async span(kind, work, label) {
      const start = performance.now();
      try {
        return await work();
      } finally {
        const end = performance.now();
        if (spans[kind].length < MAX_SPANS) spans[kind].push([start, end]);
        if (label === "image" && images.length < MAX_SPANS) images.push(end - start);
      }
    },
    summary() {
      const provider = union(spans.provider);
      const all = union([...spans.provider, ...spans.ffmpeg]);
      return {
        provider_s: provider / 1000,
        ffmpeg_s: (all - provider) / 1000,
        busy_s: all / 1000,
        image_ms: images,
      };
    },
  };
}
