/**
 * `bun run bench:render`: the composer against the lower bound of one plain ffmpeg command.
 *
 * The timeline (scripts/bench-render/sample.ts): 12 shots of 5 s at 720p/24 fps with painted
 * keyframes, espeak narration with timings, ducked looping BGM, burned-in Chinese subtitles, a
 * cover, and cut/dissolve/fade/wipe transitions. Per round (RUNS rounds, medians reported):
 *   single_pass_s   one ffmpeg command encoding a 60 s 720p H.264 video from the same 12 stills,
 *                   no effects, no audio, with the composer's encoder settings (each still decoded
 *                   once and repeated by the loop filter: the fastest single command we know);
 *   full_s          compose() in its own process with an empty segment cache;
 *   incremental_s   compose() again after one shot's narration is re-synthesised with new words.
 * peak_rss_mb is the composing (Bun) process's peak RSS; peak_tree_rss_mb adds its ffmpeg
 * children, sampled every 20 ms from /proc. Progress on stderr; the last stdout line is JSON.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem, type } from "node:os";
import { join, resolve } from "node:path";
import { runFfmpeg } from "../../src/media/ffmpeg.ts";
import { encoderArgs } from "../../src/media/segments.ts";
import type { Timeline } from "../../src/media/timeline.ts";
import { mediaTools } from "../../src/media/tools.ts";
import { createLocalSpeech } from "../../src/providers/local/speech.ts";
import { sampleTimeline } from "./sample.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CHANGED_SHOT = 5;
const NEW_LINES = [
  "她把地图折好，放进了怀里。",
  "远处传来了一阵马蹄声。",
  "掌柜悄悄关上了后门。",
  "灯笼在风中摇晃着。",
];
const log = (...a: unknown[]) => console.error("[bench:render]", ...a);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (n: number, d = 3) => Number(n.toFixed(d));

/** RSS of a process and all its descendants, in MB, from /proc. */
function treeRssMb(root: number): number {
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, "utf8");
      const ppid = Number(/PPid:\s+(\d+)/.exec(status)?.[1]);
      rss.set(Number(entry), Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0));
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // The process ended while we looked.
    }
  }
  let kb = 0;
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    kb += rss.get(pid) ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return kb / 1024;
}

async function composeInChild(timelineFile: string, cacheDir: string, outDir: string) {
  const proc = Bun.spawn(
    [process.execPath, join(import.meta.dir, "compose-child.ts"), timelineFile, cacheDir, outDir],
    { stdout: "pipe", stderr: "inherit" },
  );
  let peakTree = 0;
  const sampler = setInterval(() => (peakTree = Math.max(peakTree, treeRssMb(proc.pid))), 20);
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  clearInterval(sampler);
  if (code !== 0) throw new Error(`the composing process failed (exit ${code})`);
  const result = JSON.parse(out.trim().split("\n").pop()!) as {
    seconds: number;
    segments: { rendered: number; reused: number };
    durationS: number;
    peakRssMb: number;
  };
  return { ...result, peakTreeMb: peakTree };
}

async function singlePass(t: Timeline, out: string): Promise<number> {
  const fps = t.output.fps;
  const inputs = t.shots.flatMap((s) => ["-framerate", String(fps), "-i", s.visual.path]);
  const chains = t.shots.map(
    (s, i) =>
      `[${i}:v]scale=1280:720,format=yuv420p,loop=loop=${Math.round(s.durationS * fps) - 1}:size=1:start=0,settb=1/${fps},setpts=N[v${i}]`,
  );
  const graph = `${chains.join(";")};${t.shots.map((_, i) => `[v${i}]`).join("")}concat=n=${t.shots.length}:v=1:a=0[out]`;
  const started = performance.now();
  await runFfmpeg([
    ...inputs,
    "-filter_complex",
    graph,
    "-map",
    "[out]",
    ...encoderArgs(fps),
    "-movflags",
    "+faststart",
    out,
  ]);
  return (performance.now() - started) / 1000;
}

const work = mkdtempSync(join(tmpdir(), "inkreel-bench-render-"));
try {
  const loadAtStart = loadavg()[0] ?? 0;
  log("building the sample timeline (painting keyframes, synthesising narration)…");
  const timeline = await sampleTimeline(work, { shots: 12, shotS: 5 });
  const durationS = timeline.shots.reduce((s, x) => s + x.durationS, 0);
  const speech = createLocalSpeech();
  const rounds: Array<{
    single: number;
    full: number;
    incremental: number;
    rss: number;
    tree: number;
    rendered: number;
  }> = [];
  for (let r = 0; r < RUNS; r++) {
    const cache = join(work, `cache-${r}`);
    const single = await singlePass(timeline, join(work, `single-${r}.mp4`));
    const base = join(work, `timeline-${r}.json`);
    await Bun.write(base, JSON.stringify(timeline));
    const full = await composeInChild(base, cache, join(work, `out-${r}-full`));
    // One shot's narration changes: new words, new audio, new timings.
    const text = NEW_LINES[r % NEW_LINES.length]!;
    const voice = await speech.generate({ text, language: "zh", voice: "narrator" });
    const wav = join(work, `changed-${r}.wav`);
    await Bun.write(wav, voice.data.bytes);
    const changed = structuredClone(timeline);
    changed.shots[CHANGED_SHOT]!.audio = [{ path: wav, offsetS: 0.3, text, timings: voice.data.timings }];
    const next = join(work, `timeline-${r}-changed.json`);
    await Bun.write(next, JSON.stringify(changed));
    const incremental = await composeInChild(next, cache, join(work, `out-${r}-incremental`));
    if (full.segments.rendered !== timeline.shots.length || incremental.segments.rendered !== 1) {
      throw new Error(
        `unexpected segment counts: full ${JSON.stringify(full.segments)}, incremental ${JSON.stringify(incremental.segments)}`,
      );
    }
    rounds.push({
      single,
      full: full.seconds,
      incremental: incremental.seconds,
      rss: Math.max(full.peakRssMb, incremental.peakRssMb),
      tree: Math.max(full.peakTreeMb, incremental.peakTreeMb),
      rendered: incremental.segments.rendered,
    });
    log(
      `round ${r + 1}: single ${single.toFixed(2)} s, full ${full.seconds.toFixed(2)} s, incremental ${incremental.seconds.toFixed(2)} s, rss ${full.peakRssMb.toFixed(0)} MB`,
    );
    rmSync(cache, { recursive: true, force: true });
  }
  const single = median(rounds.map((x) => x.single));
  const full = median(rounds.map((x) => x.full));
  const incremental = median(rounds.map((x) => x.incremental));
  const cpu = cpus();
  const version = (await Bun.$`${mediaTools().ffmpeg} -version`.quiet().text()).split("\n")[0];
  console.log(
    JSON.stringify({
      full_s: round(full),
      single_pass_s: round(single),
      full_ratio: round(full / single),
      incremental_s: round(incremental),
      incremental_ratio: round(incremental / full),
      peak_rss_mb: round(Math.max(...rounds.map((x) => x.rss)), 1),
      peak_tree_rss_mb: round(Math.max(...rounds.map((x) => x.tree)), 1),
      incremental_segments_rendered: rounds[0]!.rendered,
      shots: timeline.shots.length,
      video_s: durationS,
      resolution: "1280x720@24",
      runs: rounds.map((x) => ({
        single_pass_s: round(x.single),
        full_s: round(x.full),
        incremental_s: round(x.incremental),
      })),
      versions: {
        ffmpeg: version,
        bun: Bun.version,
        inkreel: JSON.parse(readFileSync(resolve(import.meta.dir, "../../package.json"), "utf8")).version,
      },
      machine: {
        cpu: cpu[0]?.model,
        cores: cpu.length,
        memory_gib: round(totalmem() / 1024 ** 3, 1),
        os: `${type()} ${release()}`,
        load_avg_1m_at_start: round(loadAtStart, 2),
      },
    }),
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
