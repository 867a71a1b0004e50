import { mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { SpanRecorder } from "../metrics/spans.ts";
import { type PlacedAudio, soundtrack } from "./audio-mix.ts";
import { ComposeError } from "./compose-error.ts";
import { type CoverPicture, renderCover } from "./cover.ts";
import { MediaError, type RunOptions, runFfmpeg } from "./ffmpeg.ts";
import { createInspectCache, decodeProblem, type InspectCache, inspect, type MediaInfo } from "./inspect.ts";
import { type Frame, renderRun, type ShotPlan, segmentPath, shotDigest } from "./segments.ts";
import { type Cue, resolveStyle, speechCues, toAss, toSrt, toVtt } from "./subtitles.ts";
import { frameSize, shotFrames, type Timeline } from "./timeline.ts";
import { checkTimeline } from "./timeline-check.ts";

export interface ComposeOptions {
  /** Where rendered segments are kept between compositions (one file per segment digest). */
  cacheDir: string;
  /** Where the results go (video.mp4|mov, subtitles.srt/.vtt/.ass, cover.jpg, audio.m4a): one directory per composition. */
  outDir: string;
  signal?: AbortSignal;
  /** 0-100 over the whole composition. */
  onProgress?: (percent: number) => void;
  /** Per ffmpeg run. */
  timeoutMs?: number;
  /** Times every ffmpeg run (the pipeline benchmark); by default nothing is recorded. */
  spans?: SpanRecorder;
  /** Inputs already inspected, kept by the process across compositions; by default this composition's own. */
  inspected?: InspectCache;
}

export interface ComposeResult {
  video: string;
  durationS: number;
  width: number;
  height: number;
  subtitles: { srt: string; vtt: string; ass: string } | null;
  cover: string | null;
  /** The soundtrack alone (AAC in M4A), when the timeline asked for it. */
  audio: string | null;
  /** Per shot: where it starts, how long it lasts, and whether its segment came from the cache. */
  shots: Array<{ id: string; startS: number; durationS: number; digest: string; cached: boolean }>;
  segments: { rendered: number; reused: number };
  warnings: string[];
}

async function exists(path: string) {
  return Bun.file(path).exists();
}

/**
 * Composes a timeline into a finished video with subtitle files and a cover. Every shot becomes
 * its own H.264 segment cached by the digest of everything it is made from; only the segments
 * not in the cache are rendered (consecutive ones in one ffmpeg run), then the segments are joined
 * by stream copy under one soundtrack. Results appear in `outDir` only when all of them succeeded.
 */
export async function compose(timeline: Timeline, options: ComposeOptions): Promise<ComposeResult> {
  checkTimeline(timeline);
  const { width, height } = frameSize(timeline.output);
  const fps = timeline.output.fps;
  const frame: Frame = { width, height, fps };
  const burnStyle = timeline.subtitles?.burnIn ? resolveStyle(timeline.subtitles.style, height) : null;
  const warnings: string[] = [];
  const run = { signal: options.signal, timeoutMs: options.timeoutMs, spans: options.spans };
  const inspected =
    options.inspected ?? createInspectCache(timeline.shots.reduce((n, s) => n + 1 + (s.audio?.length ?? 0), 1));

  // Every input checked before anything is rendered.
  const {
    visuals,
    speech,
    shotCues,
    cues: allCues,
    starts,
    totalS,
    stereo,
  } = await layoutTimeline(timeline, inspected, warnings);

  const plans: ShotPlan[] = timeline.shots.map((shot, i) => {
    const prev = i > 0 ? timeline.shots[i - 1]! : null;
    const next = timeline.shots[i + 1];
    const transition = shot.transition ?? "cut";
    const plan = {
      shot,
      frames: shotFrames(shot, fps),
      visual: visuals[i]!,
      from:
        prev && (transition === "dissolve" || transition === "wipe")
          ? { shot: prev, visual: visuals[i - 1]!, frames: shotFrames(prev, fps) }
          : null,
      fadeOutS: next?.transition === "fade" ? Math.min(next.transitionS ?? 0.5, shot.durationS) : 0,
      cues: shotCues[i]!,
    };
    return { ...plan, digest: shotDigest(plan, frame, burnStyle) };
  });

  await mkdir(options.outDir, { recursive: true });
  const work = await mkdtemp(join(options.outDir, ".compose-"));
  // The soundtrack needs no picture: it is mixed and encoded while the segments render.
  const audioStop = new AbortController();
  const stopAudio = () => audioStop.abort();
  options.signal?.addEventListener("abort", stopAudio, { once: true });
  const audioFile = join(work, "audio.m4a");
  const channels = stereo ? 2 : 1;
  const audio = encodeSoundtrack(
    soundtrack(speech, timeline.bgm ?? null, totalS, channels),
    channels,
    totalS,
    audioFile,
    { signal: audioStop.signal, timeoutMs: options.timeoutMs, spans: options.spans },
  );
  // Its failure is reported where it is awaited, after the segments; until then it is not "unhandled".
  audio.catch(() => {});
  try {
    // Segments missing from the cache, rendered a run of consecutive shots at a time.
    const cached = await Promise.all(plans.map((p) => exists(segmentPath(options.cacheDir, p.digest))));
    const runs: ShotPlan[][] = [];
    plans.forEach((p, i) => {
      if (cached[i]) return;
      if (i > 0 && !cached[i - 1] && runs.length) runs.at(-1)!.push(p);
      else runs.push([p]);
    });
    const framesToRender = runs.flat().reduce((n, p) => n + p.frames, 0);
    let framesDone = 0;
    for (const r of runs) {
      const runFrames = r.reduce((n, p) => n + p.frames, 0);
      try {
        await renderRun(r, frame, burnStyle, work, options.cacheDir, {
          ...run,
          onProgress: (p) =>
            options.onProgress?.(
              ((framesDone + (runFrames * (p.percent ?? 0)) / 100) / Math.max(1, framesToRender)) * 95,
            ),
        });
      } catch (e) {
        throw await blame(
          e,
          r.map((p) => p.shot),
          options.signal,
        );
      }
      framesDone += runFrames;
    }
    const subs = allCues.length
      ? { srt: join(work, "subtitles.srt"), vtt: join(work, "subtitles.vtt"), ass: join(work, "subtitles.ass") }
      : null;
    if (subs) {
      await Bun.write(subs.srt, toSrt(allCues));
      await Bun.write(subs.vtt, toVtt(allCues));
      await Bun.write(subs.ass, toAss(allCues, { width, height }, timeline.subtitles?.style));
    }
    let cover: string | null = null;
    if (timeline.cover) {
      const c = timeline.cover;
      const picture: CoverPicture = c.plain
        ? { kind: "plain" }
        : c.imagePath
          ? { kind: "image", path: c.imagePath }
          : { kind: "shot", shot: timeline.shots.find((s) => s.id === c.shotId) ?? timeline.shots[0]! };
      cover = join(work, "cover.jpg");
      await renderCover(picture, c.title, { width, height }, work, cover, run);
    }

    try {
      await audio;
    } catch (e) {
      throw await blame(e, timeline.shots, options.signal, { bgm: timeline.bgm?.path ?? null });
    }

    // The join: segments and soundtrack by stream copy, moov atom first.
    const list = join(work, "segments.txt");
    await Bun.write(
      list,
      plans.map((p) => `file '${segmentPath(options.cacheDir, p.digest).replace(/'/g, "'\\''")}'\n`).join(""),
    );
    const videoTmp = join(work, `video.${timeline.output.format}`);
    await runFfmpeg(
      [
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        list,
        "-i",
        audioFile,
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c",
        "copy",
        "-t",
        String(totalS),
        "-movflags",
        "+faststart",
        videoTmp,
      ],
      run,
    );

    // Everything succeeded: move the results into place.
    const final = (p: string) => join(options.outDir, p.split("/").pop()!);
    const produced = [
      videoTmp,
      ...(subs ? [subs.srt, subs.vtt, subs.ass] : []),
      ...(cover ? [cover] : []),
      ...(timeline.soundtrack ? [audioFile] : []),
    ];
    for (const p of produced) await rename(p, final(p));
    options.onProgress?.(100);
    return {
      video: final(videoTmp),
      durationS: totalS,
      width,
      height,
      subtitles: subs ? { srt: final(subs.srt), vtt: final(subs.vtt), ass: final(subs.ass) } : null,
      cover: cover ? final(cover) : null,
      audio: timeline.soundtrack ? final(audioFile) : null,
      shots: plans.map((p, i) => ({
        id: p.shot.id,
        startS: starts[i]!,
        durationS: p.frames / fps,
        digest: p.digest,
        cached: cached[i]!,
      })),
      segments: { rendered: cached.filter((c) => !c).length, reused: cached.filter(Boolean).length },
      warnings,
    };
  } finally {
    audioStop.abort();
    await audio.catch(() => {});
    options.signal?.removeEventListener("abort", stopAudio);
    await rm(work, { recursive: true, force: true });
  }
}

/** Where everything of a timeline falls, from its inspected inputs: what composing and editor projects share. */
export interface Layout {
  /** Per shot, its picture or clip. */
  visuals: MediaInfo[];
  /** Every line of speech, placed on the whole timeline. */
  speech: PlacedAudio[];
  /** Per shot, its subtitles (times within the shot). */
  shotCues: Cue[][];
  /** Every subtitle, in seconds of the video. */
  cues: Cue[];
  /** Per shot, where it starts (a whole number of frames in). */
  starts: number[];
  totalS: number;
  /** Whether any source has two channels. */
  stereo: boolean;
  bgm: MediaInfo | null;
}

/**
 * Inspects every input of a timeline (a clear error naming the shot for one that is missing or
 * does not decode) and lays it out: shots a whole number of frames long, one after another, each
 * line of speech cut at the end of its shot (with a warning), subtitles from the lines' timings.
 */
export async function layoutTimeline(timeline: Timeline, inspected: InspectCache, warnings: string[]): Promise<Layout> {
  const fps = timeline.output.fps;
  const visuals: MediaInfo[] = [];
  const speech: PlacedAudio[] = [];
  const shotCues: Cue[][] = [];
  const allCues: Cue[] = [];
  let atS = 0;
  const starts: number[] = [];
  // Mono sources (espeak, the local synthesiser) make a mono soundtrack: half the encoding work.
  let stereo = false;
  for (const shot of timeline.shots) {
    visuals.push(
      await inspect(
        inspected,
        shot.visual.path,
        shot.visual.kind === "still" ? "image" : "video",
        shot.id,
        shot.visual.kind === "still" ? "picture" : "video clip",
      ),
    );
    const frames = shotFrames(shot, fps);
    const lengthS = frames / fps;
    const cues: Cue[] = [];
    for (const [j, line] of (shot.audio ?? []).entries()) {
      const info = await inspect(inspected, line.path, "audio", shot.id, `audio line ${j + 1}`);
      const maxS = lengthS - line.offsetS;
      if (info.durationS! > maxS + 0.05)
        warnings.push(
          `shot "${shot.id}": audio line ${j + 1} (${info.durationS!.toFixed(2)} s) is cut at the end of the shot`,
        );
      speech.push({
        path: line.path,
        atS: atS + line.offsetS,
        playS: Math.min(info.durationS!, maxS),
        volume: line.volume ?? 1,
      });
      if (info.channels !== 1) stereo = true;
      if (line.text?.trim())
        cues.push(...speechCues(line.offsetS, line.text, line.timings, Math.min(info.durationS!, maxS), lengthS));
    }
    shotCues.push(cues);
    allCues.push(...cues.map((c) => ({ ...c, startS: c.startS + atS, endS: c.endS + atS })));
    starts.push(atS);
    atS += lengthS;
  }
  const totalS = atS;
  const bgm = timeline.bgm ? await inspect(inspected, timeline.bgm.path, "audio", null, "background music") : null;
  if (bgm && bgm.channels !== 1) stereo = true;
  return { visuals, speech, shotCues, cues: allCues, starts, totalS, stereo, bgm };
}

/**
 * Mixes and encodes the soundtrack: AAC-LC at 128 kb/s stereo or 96 kb/s mono, with the coding
 * tools that cost ffmpeg's encoder the most time (TNS, M/S, PNS, intensity stereo) off.
 */
async function encodeSoundtrack(
  mix: ReturnType<typeof soundtrack>,
  channels: 1 | 2,
  totalS: number,
  out: string,
  options: RunOptions,
) {
  await runFfmpeg(
    [
      ...mix.inputs,
      "-filter_complex",
      mix.graph.join(";"),
      "-map",
      "[aout]",
      "-c:a",
      "aac",
      "-b:a",
      channels === 1 ? "96k" : "128k",
      "-ar",
      "48000",
      "-aac_tns",
      "0",
      "-aac_ms",
      "0",
      "-aac_pns",
      "0",
      "-aac_is",
      "0",
      "-t",
      String(totalS),
      out,
    ],
    options,
  );
}

/**
 * Turns an ffmpeg failure into an error that names the shot and the cause: every input of the
 * failed run is decoded on its own, and the first that does not decode is the one to blame.
 */
async function blame(
  e: unknown,
  shots: Timeline["shots"],
  signal: AbortSignal | undefined,
  audio?: { bgm: string | null },
): Promise<unknown> {
  if (!(e instanceof MediaError) || e.reason !== "exit") return e;
  for (const shot of shots) {
    const files = audio
      ? (shot.audio ?? []).map((a, j) => [a.path, `audio line ${j + 1}`] as const)
      : [[shot.visual.path, shot.visual.kind === "still" ? "picture" : "video clip"] as const];
    for (const [path, what] of files) {
      const problem = await decodeProblem(path, signal);
      if (problem) return new ComposeError(`the ${what} file is corrupt (${problem})`, shot.id);
    }
  }
  if (audio?.bgm && (await decodeProblem(audio.bgm, signal)))
    return new ComposeError("the background music file is corrupt");
  return new ComposeError(`rendering failed: ${e.message}`, shots.length === 1 ? shots[0]!.id : null, "render");
}
