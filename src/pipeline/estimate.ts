import type { ComputeConfig } from "../config.ts";
import type { Capability } from "../core/capabilities.ts";
import type { ExportOptions } from "../core/export-record.ts";
import type { GenerationKind, GenerationParams } from "../core/generation.ts";
import { STAGES, type Stage } from "../core/stages.ts";
import type { Db } from "../db/client.ts";
import type { EstimateLine } from "../db/types.ts";
import { type Estimate, pointsOf, roundPoints } from "../providers/compute-ledger.ts";
import { costOf } from "../providers/pricing.ts";
import type { Billing, Providers, Usage, VideoModel } from "../providers/types.ts";
import type { ShotMaterial } from "../story/material.ts";
import { estimateSpeechS } from "../story/timing.ts";
import { loadPackage, loadShots } from "./packages.ts";
import { trackLengthS } from "./steps/music.ts";

/**
 * What a piece of work will cost before it is queued: per stage, which model of the chain's head
 * it asks, how many units, and their price — from the project's real storyboard (shots, their
 * lengths, the lines to speak) once there is one, else from the story's length.
 */

/** Before a storyboard exists: what a story of this many characters usually becomes. */
const CHARS_PER_SHOT = 60;
const SHOT_S = 4;
const CHARS_PER_CHARACTER = 400;
const SHOTS_PER_SCENE = 6;
/** A text stage reads the story and writes about half as much again (tokens ≈ characters for Chinese). */
const OUTPUT_SHARE = 0.5;

/** A clip asked for without a length. */
const DEFAULT_CLIP_S = 5;

const TEXT_STAGES = new Set<Stage>(["storyline", "art_style", "characters", "scenes", "storyboard"]);

interface Work {
  inputChars: number;
  characters: number;
  scenes: number;
  shots: number;
  videoS: number;
  /** Each shot's length (a clip of it is billed as its model makes it: billedSeconds). */
  clipS: number[];
  speechS: number;
}

/** The seconds of video a clip of `durationS` is billed on this model. */
const billedS = (video: VideoModel, durationS: number) => video.billedSeconds?.(durationS) ?? durationS;

/** The planned units of a project's work: its storyboard if it has one, else a guess from the story. */
async function workOf(db: Db, { packageId, inputText }: { packageId: string | null; inputText: string }) {
  const chars = [...inputText].length;
  if (packageId) {
    const shots = await loadShots(db, packageId);
    if (shots.length > 0) {
      const pkg = await loadPackage(db, packageId);
      return {
        inputChars: chars,
        characters: pkg.characters.length,
        scenes: pkg.scenes.length,
        shots: shots.length,
        videoS: shots.reduce((a, s) => a + s.durationS, 0),
        clipS: shots.map((s) => s.durationS),
        speechS: shots.reduce((a, s) => a + s.lines.reduce((b, l) => b + estimateSpeechS(l.text, l.voice.speed), 0), 0),
      } satisfies Work;
    }
  }
  const shots = Math.max(1, Math.ceil(chars / CHARS_PER_SHOT));
  return {
    inputChars: chars,
    characters: Math.max(1, Math.min(12, Math.ceil(chars / CHARS_PER_CHARACTER))),
    scenes: Math.max(1, Math.ceil(shots / SHOTS_PER_SCENE)),
    shots,
    videoS: shots * SHOT_S,
    clipS: Array.from({ length: shots }, () => SHOT_S),
    speechS: estimateSpeechS(inputText),
  } satisfies Work;
}

/** One stage's units, per capability it calls (the characters stage writes the cast, then draws it). */
function unitsOf(stage: Stage, w: Work, video: VideoModel): Array<{ capability: Capability; usage: Usage }> {
  const out: Array<{ capability: Capability; usage: Usage }> = [];
  if (TEXT_STAGES.has(stage) && stage !== "art_style")
    out.push({
      capability: "text",
      usage: { inputTokens: w.inputChars, outputTokens: Math.ceil(w.inputChars * OUTPUT_SHARE) },
    });
  if (stage === "characters") out.push({ capability: "image", usage: { images: w.characters } });
  if (stage === "scenes") out.push({ capability: "image", usage: { images: w.scenes } });
  if (stage === "keyframes") out.push({ capability: "image", usage: { images: w.shots } });
  if (stage === "voices") out.push({ capability: "speech", usage: { audioSeconds: w.speechS } });
  if (stage === "clips")
    out.push({ capability: "video", usage: { videoSeconds: w.clipS.reduce((a, d) => a + billedS(video, d), 0) } });
  if (stage === "music") out.push({ capability: "music", usage: { audioSeconds: w.videoS } });
  // The export paints the video's cover.
  if (stage === "export") out.push({ capability: "image", usage: { images: 1 } });
  return out;
}

/** A line of the estimate: the units priced as the model's calls will be settled. */
export function priced(
  c: ComputeConfig,
  line: { stage: string; capability: Capability; model: { provider: string; modelId: string; billing?: Billing } },
  usage: Usage,
): EstimateLine {
  const billing = line.model.billing ?? { price: {}, local: false };
  const usd = costOf(billing.local ? c.localUsd : billing.price, usage);
  return {
    stage: line.stage,
    capability: line.capability,
    provider: line.model.provider,
    model: line.model.modelId,
    units: {
      ...(usage.images ? { images: usage.images } : {}),
      ...(usage.audioSeconds ? { audio_seconds: Math.round(usage.audioSeconds * 10) / 10 } : {}),
      ...(usage.videoSeconds ? { video_seconds: Math.round(usage.videoSeconds * 10) / 10 } : {}),
      ...(usage.inputTokens ? { input_tokens: usage.inputTokens } : {}),
      ...(usage.outputTokens ? { output_tokens: usage.outputTokens } : {}),
    },
    usd,
    points: pointsOf(usd, c),
  };
}

/** The sum of an estimate's lines. */
export function estimateOf(breakdown: EstimateLine[]): Estimate {
  return {
    points: roundPoints(breakdown.reduce((a, l) => a + l.points, 0)),
    usd: Math.round(breakdown.reduce((a, l) => a + l.usd, 0) * 1e6) / 1e6,
    breakdown,
  };
}

export interface RunWork {
  packageId: string | null;
  inputText: string;
  /** The stages that will run, in any order (the others are done or skipped). */
  stages: Stage[];
}

/** The estimate of a run of these stages with these providers (a project's chains, or a run's pins). */
export async function estimateRun(db: Db, c: ComputeConfig, providers: Providers, r: RunWork): Promise<Estimate> {
  const w = await workOf(db, r);
  const lines: EstimateLine[] = [];
  for (const stage of STAGES) {
    if (!r.stages.includes(stage)) continue;
    for (const u of unitsOf(stage, w, providers.video))
      lines.push(priced(c, { stage, capability: u.capability, model: providers[u.capability] }, u.usage));
  }
  return estimateOf(lines);
}

/** What a regeneration makes (RegeneratePayload's `what`): a picture, a clip's video or lines, music tracks. */
export const REGENERATION_WHATS = ["keyframe", "clip", "reference", "scene_image", "voice", "music"] as const;
export type RegenerationWhat = (typeof REGENERATION_WHATS)[number];

export interface RegenerationWork {
  what: RegenerationWhat;
  /** A shot id for keyframe, clip and voice; else a character, a scene or the package. */
  target: string;
  /** Music tracks asked for. */
  count?: number;
}

/** The seconds a shot's lines take spoken. */
const spokenS = (shot: ShotMaterial) => shot.lines.reduce((a, l) => a + estimateSpeechS(l.text, l.voice.speed), 0);

/**
 * The estimate of regenerations of a package (a candidate picture, a clip's video, its lines
 * spoken again, music), each one line at the price of the model that will make it.
 */
export async function estimateRegenerations(
  db: Db,
  c: ComputeConfig,
  providers: Providers,
  r: { packageId: string; works: RegenerationWork[] },
): Promise<Estimate> {
  const shots = await loadShots(db, r.packageId);
  const byId = new Map(shots.map((s) => [s.id, s]));
  const lines: EstimateLine[] = [];
  for (const w of r.works) {
    const stage = `regenerate_${w.what}`;
    const line = (capability: Capability, usage: Usage) =>
      priced(c, { stage, capability, model: providers[capability] }, usage);
    if (w.what === "keyframe" || w.what === "reference" || w.what === "scene_image")
      lines.push(line("image", { images: 1 }));
    else if (w.what === "music") lines.push(line("music", { audioSeconds: trackLengthS(shots) * (w.count ?? 1) }));
    else {
      const shot = byId.get(w.target);
      if (!shot) continue;
      lines.push(
        w.what === "clip"
          ? line("video", { videoSeconds: billedS(providers.video, shot.durationS) })
          : line("speech", { audioSeconds: spokenS(shot) }),
      );
    }
  }
  return estimateOf(lines);
}

/**
 * The estimate of a standalone export: what it makes again before composing (stale keyframes,
 * lines without a recording, the clips those change) and the painted poster of an automatic cover.
 */
export async function estimateExport(
  db: Db,
  c: ComputeConfig,
  providers: Providers,
  r: { packageId: string; options: Pick<ExportOptions, "cover"> },
): Promise<Estimate> {
  const units = { images: 0, audioSeconds: 0, videoSeconds: 0 };
  for (const shot of await loadShots(db, r.packageId)) {
    const unvoiced = shot.lines.some((l) => !l.audio);
    if (shot.stale.length === 0 && !unvoiced) continue;
    if (shot.stale.includes("keyframe")) units.images++;
    if (shot.stale.includes("voice") || unvoiced) units.audioSeconds += spokenS(shot);
    if (shot.clip.selected !== null) units.videoSeconds += billedS(providers.video, shot.durationS);
  }
  const cover = r.options.cover;
  if (cover.enabled && (cover.cover_type ?? "auto") === "auto") units.images++;
  const stage = "export";
  const lines: EstimateLine[] = [];
  if (units.images)
    lines.push(priced(c, { stage, capability: "image", model: providers.image }, { images: units.images }));
  if (units.audioSeconds)
    lines.push(
      priced(c, { stage, capability: "speech", model: providers.speech }, { audioSeconds: units.audioSeconds }),
    );
  if (units.videoSeconds)
    lines.push(priced(c, { stage, capability: "video", model: providers.video }, { videoSeconds: units.videoSeconds }));
  return estimateOf(lines);
}

/** The estimate of a direct generation on the model that will make it. */
export function estimateGeneration(
  c: ComputeConfig,
  providers: Providers,
  g: { kind: GenerationKind; params: GenerationParams },
): Estimate {
  const stage = g.kind;
  const line = (capability: Capability, usage: Usage) =>
    priced(c, { stage, capability, model: providers[capability] }, usage);
  if (g.kind === "text_to_image" || g.kind === "image_to_image")
    return estimateOf([line("image", { images: g.params.num_images ?? 1 })]);
  const seconds = g.params.duration_s ?? DEFAULT_CLIP_S;
  const lines = [line("video", { videoSeconds: billedS(providers.video, seconds) })];
  // A story video also speaks its text, and paints its first picture when given none.
  if (g.kind === "story_video") {
    lines.push(line("speech", { audioSeconds: estimateSpeechS(g.params.prompt) }));
    if (!g.params.image) lines.unshift(line("image", { images: 1 }));
  }
  return estimateOf(lines);
}
