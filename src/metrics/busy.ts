/**
 * Where a process spends its time: intervals spent inside providers and inside ffmpeg, merged so
 * concurrent work is counted once. The pipeline benchmark reads the summary a worker logs when
 * it stops, to tell orchestration overhead from real work.
 */
type Kind = "provider" | "ffmpeg";
const spans: Record<Kind, Array<[number, number]>> = { provider: [], ffmpeg: [] };
const MAX_SPANS = 200_000;

export async function timed<T>(kind: Kind, work: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await work();
  } finally {
    if (spans[kind].length < MAX_SPANS) spans[kind].push([start, performance.now()]);
  }
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

/** Seconds inside providers, and inside ffmpeg outside any provider call (the composer's). */
export function busySummary() {
  const provider = union(spans.provider);
  const all = union([...spans.provider, ...spans.ffmpeg]);
  return { provider_s: provider / 1000, ffmpeg_s: (all - provider) / 1000, busy_s: all / 1000 };
}
