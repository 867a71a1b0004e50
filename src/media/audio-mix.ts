import type { BgmSpec } from "./timeline.ts";

/** A piece of speech placed on the video's clock. */
export interface PlacedAudio {
  path: string;
  atS: number;
  /** Longest it may play: up to the end of its shot. */
  maxS: number;
  volume: number;
}

const RATE = 48_000;
const FORMAT = `aresample=${RATE},aformat=sample_fmts=fltp:channel_layouts=stereo`;
const f = (n: number) => Number(n.toFixed(4));

/**
 * ffmpeg inputs and filters for the soundtrack: every narration and dialogue line at its offset,
 * mixed at unit gain (amix divides by its input count; every input lasts the whole video so the
 * divisor never changes and `volume` undoes it exactly), and the background music looped or cut
 * to length, faded, set to its volume and ducked under the speech by a sidechain compressor.
 * `first` is the index of the first input these arguments add; the result ends in `[aout]`.
 */
export function soundtrack(speech: PlacedAudio[], bgm: BgmSpec | null, totalS: number, first: number): { inputs: string[]; graph: string[] } {
  const inputs: string[] = [];
  const graph: string[] = [];
  const total = f(totalS);
  let k = first;
  const lines = speech.map((s, i) => {
    inputs.push("-i", s.path);
    const ms = Math.round(s.atS * 1000);
    graph.push(`[${k++}:a]${FORMAT},atrim=0:${f(s.maxS)},volume=${f(s.volume)},adelay=${ms}|${ms},apad,atrim=0:${total}[l${i}]`);
    return `[l${i}]`;
  });
  if (lines.length === 0) graph.push(`anullsrc=r=${RATE}:cl=stereo,atrim=0:${total}[speech]`);
  else if (lines.length === 1) graph.push(`${lines[0]}anull[speech]`);
  else graph.push(`${lines.join("")}amix=inputs=${lines.length}:duration=first:dropout_transition=0,volume=${lines.length}[speech]`);
  if (!bgm) {
    graph.push(`[speech]anull[aout]`);
    return { inputs, graph };
  }
  inputs.push(...(bgm.loop !== false ? ["-stream_loop", "-1"] : []), "-i", bgm.path);
  const fades: string[] = [];
  if (bgm.fadeInS) fades.push(`afade=t=in:st=0:d=${f(bgm.fadeInS)}`);
  if (bgm.fadeOutS) fades.push(`afade=t=out:st=${f(Math.max(0, totalS - bgm.fadeOutS))}:d=${f(bgm.fadeOutS)}`);
  graph.push(`[${k}:a]${FORMAT},apad,atrim=0:${total},volume=${f(bgm.volume ?? 0.25)}${fades.length ? `,${fades.join(",")}` : ""}[music]`);
  if (bgm.duck !== false && speech.length > 0) {
    graph.push(`[speech]asplit[voice][key]`);
    // About -18 dB of gain reduction while someone speaks, released over half a second.
    graph.push(`[music][key]sidechaincompress=threshold=0.01:ratio=12:attack=15:release=500:makeup=1[ducked]`);
    graph.push(`[voice][ducked]amix=inputs=2:duration=first:dropout_transition=0,volume=2[aout]`);
  } else {
    graph.push(`[speech][music]amix=inputs=2:duration=first:dropout_transition=0,volume=2[aout]`);
  }
  return { inputs, graph };
}
