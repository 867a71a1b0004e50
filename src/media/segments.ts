import { createHash } from "node:crypto";
import { mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { editFilters } from "./edit.ts";
import { filterPath, MediaError, type RunOptions, runFfmpeg } from "./ffmpeg.ts";
import { fontSetup } from "./fonts.ts";
import type { MediaInfo } from "./inspect.ts";
import { type Cue, toAss } from "./subtitles.ts";
import type { SubtitleStyle, TimelineShot } from "./timeline.ts";

/** Bump when the rendering below changes, so old cached segments are not reused. */
const ENGINE = "segment-v2";

/** One encoder setting for every segment, so segments join by stream copy. */
export function encoderArgs(fps: number): string[] {
  return [
    "-c:v",
    "libx264",
    "-preset",
    "superfast",
    "-crf",
    "20",
    "-pix_fmt",
    "yuv420p",
    "-profile:v",
    "high",
    "-g",
    String(fps * 2),
    "-video_track_timescale",
    "90000",
  ];
}

/** A shot ready to render: its frames, its input facts, its subtitle cues (shot-relative) and its digest. */
export interface ShotPlan {
  shot: TimelineShot;
  frames: number;
  visual: MediaInfo;
  /** The previous shot, when this one dissolves or wipes from its last frame. */
  from: { shot: TimelineShot; visual: MediaInfo; frames: number } | null;
  /** Seconds of fade to black at the end, when the next shot fades in. */
  fadeOutS: number;
  cues: Cue[];
  digest: string;
}

export interface Frame {
  width: number;
  height: number;
  fps: number;
}

export function shotDigest(p: Omit<ShotPlan, "digest">, frame: Frame, style: SubtitleStyle | null): string {
  const s = p.shot;
  return createHash("sha256")
    .update(
      JSON.stringify({
        engine: ENGINE,
        encoder: encoderArgs(frame.fps),
        frame,
        visual: [s.visual.kind, p.visual.digest],
        frames: p.frames,
        edit: s.edit ?? null,
        transition: [s.transition ?? "cut", s.transitionS ?? 0.5],
        from: p.from ? [p.from.visual.digest, p.from.shot.visual.kind, p.from.shot.edit ?? null, p.from.frames] : null,
        fadeOutS: p.fadeOutS,
        cues: style ? p.cues : [],
        style,
      }),
    )
    .digest("hex");
}

const seconds = (n: number) => Number(n.toFixed(6));

/** Input arguments for a shot's picture: a still is read once; a clip loops if it is too short. */
function visualInput(kind: "still" | "clip", path: string, fps: number): string[] {
  return kind === "still" ? ["-framerate", String(fps), "-i", path] : ["-stream_loop", "-1", "-i", path];
}

/** The input holding the last frame the previous shot showed. */
function lastFrameInput(from: NonNullable<ShotPlan["from"]>, fps: number): string[] {
  if (from.shot.visual.kind === "still") return ["-framerate", String(fps), "-i", from.shot.visual.path];
  const shownS = from.frames / fps;
  const clipS = from.visual.durationS ?? shownS;
  const at = Math.max(0, (shownS % clipS || clipS) - 1 / fps);
  return ["-ss", String(seconds(at)), "-i", from.shot.visual.path];
}

/**
 * Renders a run of consecutive shots in one ffmpeg process (decoding and encoder start paid once)
 * and cuts it into one segment file per shot at forced keyframes. Each segment is written under
 * a temporary name and renamed to its digest only when the whole run succeeded.
 */
export async function renderRun(
  run: ShotPlan[],
  frame: Frame,
  style: SubtitleStyle | null,
  dir: string,
  cacheDir: string,
  options: RunOptions,
) {
  const { width: W, height: H, fps } = frame;
  const inputs: string[] = [];
  const graph: string[] = [];
  let n = 0;
  const labels: string[] = [];
  for (const [i, p] of run.entries()) {
    const s = p.shot;
    const N = p.frames;
    const v = n++;
    inputs.push(...visualInput(s.visual.kind, s.visual.path, fps));
    const edit = editFilters(s.edit, W, H).join(",");
    const base =
      s.visual.kind === "still"
        ? `[${v}:v]${edit},loop=loop=${N - 1}:size=1:start=0,settb=1/${fps},setpts=N`
        : `[${v}:v]fps=${fps},trim=end_frame=${N},settb=1/${fps},setpts=N,${edit}`;
    const transition = s.transition ?? "cut";
    const T = Math.min(N, Math.max(1, Math.round((s.transitionS ?? 0.5) * fps)));
    const out = `s${i}`;
    const tail: string[] = [];
    if (transition === "fade" && N > 1) tail.push(`fade=t=in:s=0:n=${T}`);
    if (p.fadeOutS > 0 && N > 1) {
      const F = Math.min(N, Math.max(1, Math.round(p.fadeOutS * fps)));
      tail.push(`fade=t=out:s=${N - F}:n=${F}`);
    }
    if ((transition === "dissolve" || transition === "wipe") && p.from && T < N) {
      const f = n++;
      inputs.push(...lastFrameInput(p.from, fps));
      const prevEdit = editFilters(p.from.shot.edit, W, H).join(",");
      graph.push(
        `[${f}:v]trim=end_frame=1,${prevEdit},loop=loop=${T - 1}:size=1:start=0,settb=1/${fps},setpts=N[p${i}]`,
      );
      graph.push(`${base},split[h${i}][t${i}]`);
      graph.push(`[t${i}]trim=start_frame=${T},setpts=N[r${i}]`);
      if (transition === "dissolve") {
        graph.push(`[h${i}]trim=end_frame=${T},format=yuva420p,fade=t=in:s=0:n=${T}:alpha=1[a${i}]`);
        graph.push(`[p${i}][a${i}]overlay=format=yuv420,format=yuv420p[m${i}]`);
      } else {
        graph.push(`[h${i}]trim=end_frame=${T}[a${i}]`);
        graph.push(`[a${i}][p${i}]overlay=x='-w*n/${T}':y=0:eval=frame,format=yuv420p[m${i}]`);
      }
      graph.push(`[m${i}][r${i}]concat=n=2:v=1:a=0${tail.length ? `,${tail.join(",")}` : ""}[${out}]`);
    } else {
      graph.push(`${base}${tail.length ? `,${tail.join(",")}` : ""}[${out}]`);
    }
    labels.push(`[${out}]`);
  }
  const cues: Cue[] = [];
  let at = 0;
  for (const p of run) {
    for (const c of p.cues) cues.push({ ...c, startS: c.startS + at, endS: c.endS + at });
    at += p.frames / fps;
  }
  const joined = run.length > 1 ? `${labels.join("")}concat=n=${run.length}:v=1:a=0` : `${labels[0]}null`;
  let last = joined;
  if (style && cues.length) {
    const assFile = join(dir, "run.ass");
    await Bun.write(assFile, toAss(cues, { width: W, height: H }, style));
    last += `,subtitles=${filterPath(assFile)}:fontsdir=${filterPath(fontSetup().dir)}`;
  }
  graph.push(`${last}[out]`);
  const total = run.reduce((t, p) => t + p.frames, 0);
  const boundaries: number[] = [];
  let acc = 0;
  for (const p of run.slice(0, -1)) {
    acc += p.frames;
    boundaries.push(acc);
  }
  const keyTimes = [0, ...boundaries].map((f) => seconds(Math.max(0, f / fps - 0.001))).join(",");
  const outputs =
    run.length > 1
      ? // The segment muxer does not pass -video_track_timescale on to its mp4 muxer: without this,
        // these segments get a different timescale from single-shot ones and cannot be joined with them.
        [
          "-f",
          "segment",
          "-segment_frames",
          boundaries.join(","),
          "-reset_timestamps",
          "1",
          "-segment_format",
          "mp4",
          "-segment_format_options",
          "video_track_timescale=90000",
          join(dir, "part%05d.mp4"),
        ]
      : [join(dir, "part00000.mp4")];
  const { frames } = await runFfmpeg(
    [
      ...inputs,
      "-filter_complex",
      graph.join(";"),
      "-map",
      "[out]",
      "-vsync",
      "passthrough",
      "-frames:v",
      String(total),
      ...encoderArgs(fps),
      "-force_key_frames",
      keyTimes,
      "-an",
      ...outputs,
    ],
    { ...options, durationS: total / fps },
  );
  // ffmpeg exits 0 even when an input stops decoding (a truncated picture) and the run ends early:
  // a run is only good if it wrote every frame of every shot.
  if (frames !== total) throw new MediaError(`ffmpeg ended early: ${frames} of ${total} frames written`, "exit");
  await mkdir(cacheDir, { recursive: true });
  for (const [i, p] of run.entries()) {
    await rename(join(dir, `part${String(i).padStart(5, "0")}.mp4`), segmentPath(cacheDir, p.digest));
  }
  await rm(join(dir, "run.ass"), { force: true });
}

export const segmentPath = (cacheDir: string, digest: string) => join(cacheDir, `${digest}.mp4`);
