/**
 * The composing process of `bench:render`: reads a timeline, composes it once, and prints one JSON
 * line with the compose time, the segments rendered and reused, and this process's peak RSS.
 * Usage: bun compose-child.ts <timeline.json> <cacheDir> <outDir>
 */
import { compose } from "../../src/media/compose.ts";
import type { Timeline } from "../../src/media/timeline.ts";

const [timelineFile, cacheDir, outDir] = process.argv.slice(2);
if (!timelineFile || !cacheDir || !outDir)
  throw new Error("usage: compose-child.ts <timeline.json> <cacheDir> <outDir>");
const timeline = (await Bun.file(timelineFile).json()) as Timeline;
const started = performance.now();
const result = await compose(timeline, { cacheDir, outDir });
const seconds = (performance.now() - started) / 1000;
console.log(
  JSON.stringify({
    seconds,
    segments: result.segments,
    durationS: result.durationS,
    video: result.video,
    // ru_maxrss is in kilobytes on Linux.
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  }),
);
