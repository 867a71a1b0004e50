import type { BgmSpec } from "./timeline.ts";

/** A piece of speech placed on the video's clock. */
export interface PlacedAudio {
  path: string;
  atS: number;
  /** How long it plays: its length, cut at the end of its shot. */
  playS: number;
  volume: number;
}

export const MIX_RATE = 48_000;
/** Music under speech plays at this gain (about -14 dB), reached over RAMP_S before and after. */
export const DUCK_GAIN = 0.2;
const RAMP_S = 0.25;
const f = (n: number) => Number(n.toFixed(4));

/** Where speech plays, overlapping spans merged. */
export function speechSpans(speech: PlacedAudio[]): Array<[number, number]> {
  const spans = speech
    .filter((s) => s.volume > 0)
    .map((s) => [s.atS, s.atS + s.playS] as [number, number])
    .sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const span of spans) {
    const last = merged.at(-1);
    if (last && span[0] <= last[1] + 2 * RAMP_S) last[1] = Math.max(last[1], span[1]);
    else merged.push([...span]);
  }
  return merged;
}

/**
 * The music's gain over time as an ffmpeg expression: 1, eased down to DUCK_GAIN over RAMP_S
 * before each span of speech and back up after it. The spans are known exactly (every line's
 * start and length), so no compressor has to guess them from the signal.
 */
function duckExpression(spans: Array<[number, number]>): string {
  if (spans.length === 0) return "1";
  // Depth 0..1 of each span at time t (a trapezoid), the deepest one wins.
  const depth = spans.map(([a, b]) => `clip(min((t-${f(a - RAMP_S)})/${RAMP_S},(${f(b + RAMP_S)}-t)/${RAMP_S}),0,1)`);
  const deepest = depth.reduce((acc, d) => `max(${acc},${d})`);
  return `1-${f(1 - DUCK_GAIN)}*${deepest}`;
}

/**
 * ffmpeg inputs and filters for the soundtrack, ending in `[aout]`: every narration and dialogue
 * line at its offset (lines that do not overlap are joined with silence; overlapping ones are
 * mixed at unit gain: amix divides by its input count, every input lasts the whole video so the
 * divisor never changes, and `volume` undoes it exactly), and the background music looped or cut
 * to length, at its volume, faded, and ducked under the speech.
 */
export function soundtrack(
  speech: PlacedAudio[],
  bgm: BgmSpec | null,
  totalS: number,
  channels: 1 | 2,
): { inputs: string[]; graph: string[] } {
  const format = `aresample=${MIX_RATE},aformat=sample_fmts=fltp:channel_layouts=${channels === 1 ? "mono" : "stereo"}`;
  const inputs: string[] = [];
  const graph: string[] = [];
  const total = f(totalS);
  let k = 0;
  const layers: string[] = [];
  const sorted = [...speech].sort((a, b) => a.atS - b.atS);
  const overlapping = sorted.some((s, i) => i > 0 && s.atS < sorted[i - 1]!.atS + sorted[i - 1]!.playS - 0.0005);
  if (sorted.length > 1 && !overlapping) {
    // Lines one after another (how the pipeline lays them out): joined end to end with silence
    // between them, exact to the sample, with no mixing of whole-length streams.
    const silence = (d: number, label: string) =>
      graph.push(`aevalsrc=${channels === 1 ? "0" : "0|0"}:s=${MIX_RATE}:d=${f(d)},${format}[${label}]`);
    const parts: string[] = [];
    let cursor = 0;
    sorted.forEach((s, i) => {
      if (s.atS - cursor > 0.0005) {
        silence(s.atS - cursor, `g${i}`);
        parts.push(`[g${i}]`);
      }
      inputs.push("-i", s.path);
      graph.push(`[${k++}:a]${format},apad,atrim=0:${f(s.playS)},asetpts=N/SR/TB,volume=${f(s.volume)}[l${i}]`);
      parts.push(`[l${i}]`);
      cursor = s.atS + s.playS;
    });
    if (totalS - cursor > 0.0005) {
      silence(totalS - cursor, "gend");
      parts.push("[gend]");
    }
    graph.push(`${parts.join("")}concat=n=${parts.length}:v=0:a=1[speech]`);
    layers.push("[speech]");
  } else {
    speech.forEach((s, i) => {
      inputs.push("-i", s.path);
      const ms = Math.round(s.atS * 1000);
      graph.push(
        `[${k++}:a]${format},atrim=0:${f(s.playS)},volume=${f(s.volume)},adelay=${channels === 1 ? ms : `${ms}|${ms}`},apad,atrim=0:${total}[l${i}]`,
      );
      layers.push(`[l${i}]`);
    });
  }
  if (bgm) {
    inputs.push(...(bgm.loop !== false ? ["-stream_loop", "-1"] : []), "-i", bgm.path);
    const chain = [format, "apad", `atrim=0:${total}`, `volume=${f(bgm.volume ?? 0.25)}`];
    if (bgm.fadeInS) chain.push(`afade=t=in:st=0:d=${f(bgm.fadeInS)}`);
    if (bgm.fadeOutS) chain.push(`afade=t=out:st=${f(Math.max(0, totalS - bgm.fadeOutS))}:d=${f(bgm.fadeOutS)}`);
    if (bgm.duck !== false) chain.push(`volume='${duckExpression(speechSpans(speech))}':eval=frame`);
    graph.push(`[${k}:a]${chain.join(",")}[music]`);
    layers.push("[music]");
  }
  if (layers.length === 0)
    graph.push(`anullsrc=r=${MIX_RATE}:cl=${channels === 1 ? "mono" : "stereo"},atrim=0:${total}[aout]`);
  else if (layers.length === 1) graph.push(`${layers[0]}anull[aout]`);
  else
    graph.push(
      `${layers.join("")}amix=inputs=${layers.length}:duration=first:dropout_transition=0,volume=${layers.length}[aout]`,
    );
  return { inputs, graph };
}
