import { Histogram, type Registry } from "prom-client";
import type { SpanRecorder } from "./spans.ts";

/**
 * A span recorder that times ffmpeg runs into a histogram and hands every span on to `inner`
 * (the benchmark's recorder, or noSpans). Provider spans are not timed here: the provider
 * chain's observer already measures them with their provider and model.
 */
export function ffmpegSeconds(registry: Registry): (inner: SpanRecorder) => SpanRecorder {
  const duration = new Histogram({
    name: "inkreel_ffmpeg_duration_seconds",
    help: "Wall time of ffmpeg runs in this process, by outcome (ok, failed)",
    labelNames: ["outcome"] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    registers: [registry],
  });
  return (inner) => ({
    async span(kind, work, label) {
      if (kind !== "ffmpeg") return inner.span(kind, work, label);
      const started = performance.now();
      let outcome: "ok" | "failed" = "failed";
      try {
        const result = await inner.span(kind, work, label);
        outcome = "ok";
        return result;
      } finally {
        duration.observe({ outcome }, (performance.now() - started) / 1000);
      }
    },
  });
}
