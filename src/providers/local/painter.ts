import { join } from "node:path";
import { filterPath, runFfmpeg, withTempDir } from "../../media/ffmpeg.ts";
import { fontFile } from "../../media/fonts.ts";
import type { TimeOfDay } from "../../story/schemas.ts";
import type { Weather } from "../../story/weather.ts";
import type { Mood, SceneHint } from "../types.ts";
import { type FigureSpec, figurePng, peopleStyle } from "./figures.ts";
import { scenePng } from "./scenery.ts";

export interface KeyframeSpec {
  width: number;
  height: number;
  scene: { location: string; timeOfDay: TimeOfDay; mood: Mood; weather?: Weather };
  /** Placed left to right, each drawn as its figure (a person unless it says otherwise). */
  characters: Array<{ name: string; figure?: Omit<FigureSpec, "style"> }>;
  caption?: string;
  /** The art style: its first colour washes over the scene; monochrome (manga) draws in greys. */
  look?: { palette: string[]; monochrome?: boolean; style?: string };
  /** Another seed, another composition (where the group stands, where the sun is); the characters stay the same. */
  seed?: number;
  signal?: AbortSignal;
}

// A CJK font shipped as a package: Chinese captions and name tags render offline.
const FONT = fontFile();

const TINT: Record<Mood, string> = {
  calm: "0x4080c0@0.10",
  happy: "0xffd040@0.12",
  sad: "0x405070@0.25",
  tense: "0xc03020@0.15",
  epic: "0xffa000@0.12",
  mysterious: "0x602080@0.22",
};

const _hex = (n: number) => `0x${(n & 0xffffff).toString(16).padStart(6, "0")}`;

function validate(spec: KeyframeSpec) {
  for (const [name, v] of [
    ["width", spec.width],
    ["height", spec.height],
  ] as const) {
    if (!Number.isInteger(v) || v < 64 || v > 4096 || v % 2)
      throw new RangeError(`${name} must be an even whole number from 64 to 4096`);
  }
  if (spec.characters.length > 8) throw new RangeError("at most 8 characters fit in one keyframe");
  if ((spec.caption ?? "").length > 200) throw new RangeError("the caption is longer than 200 characters");
}

/** The floor line, as a fraction of the height: where the characters stand. */
const FLOOR = 0.72;

/** A figure's height as a fraction of the frame's: feet on the floor line, head well below the top. */
const FIGURE_SHARE = 0.5;

/** Bumped whenever the painter draws differently: stored previews keyed by it are redrawn. */
export const PAINTER_VERSION = 3;

/** The characters of a scene hint as the painter places them, each with its figure when the hint has one. */
export function charactersOf(hint: SceneHint | undefined): KeyframeSpec["characters"] {
  return (hint?.characters ?? []).map((name) => {
    const f = hint?.figures?.find((x) => x.name === name);
    return f ? { name, figure: { seed: f.seed, species: f.species, gender: f.gender, age: f.age } } : { name };
  });
}

/** How a character without traits is drawn: a person, seeded by its name. */
const figureOf = (c: KeyframeSpec["characters"][number]): Omit<FigureSpec, "style"> =>
  c.figure ?? { seed: c.name, species: "human", gender: "unknown", age: "unknown" };

/**
 * A keyframe PNG: the scene's illustrated background (scenery.ts: its kind of place, time of day
 * and weather), a mood tint, each character's figure (figures.ts) on the floor line with a name
 * tag, and the caption — composed by ffmpeg, all offline.
 */
export async function paintKeyframe(spec: KeyframeSpec): Promise<Uint8Array> {
  validate(spec);
  const { width: W, height: H } = spec;
  return withTempDir(async (dir) => {
    const ground = Math.round(H * FLOOR);
    const background = join(dir, "background.png");
    await Bun.write(background, scenePng({ width: W, height: H, ...spec.scene, floor: FLOOR }));
    // The mood tints the scene only: characters keep their own colours in every shot.
    const filters = [`drawbox=x=0:y=0:w=${W}:h=${H}:color=${TINT[spec.scene.mood]}:t=fill`];
    const wash = spec.look?.palette[0];
    if (wash && /^#[0-9a-f]{6}$/i.test(wash))
      filters.push(`drawbox=x=0:y=0:w=${W}:h=${H}:color=0x${wash.slice(1)}@0.2:t=fill`);
    const n = spec.characters.length;
    const shift = spec.seed ? (((((spec.seed * 7919) % 21) + 21) % 21) - 10) / 100 : 0;
    const style = peopleStyle(spec.look?.style);
    const fh = Math.round(H * FIGURE_SHARE);
    const inputs: string[] = [];
    const graph = [`[0:v]${filters.join(",")}[bg]`];
    /** What is drawn over the figures: name tags, the manga look, the caption. */
    const tags: string[] = [];
    let last = "bg";
    for (let i = 0; i < n; i++) {
      const c = spec.characters[i]!;
      const sprite = join(dir, `figure-${i}.png`);
      await Bun.write(sprite, figurePng({ ...figureOf(c), style, mood: spec.scene.mood }, fh));
      inputs.push("-i", sprite);
      const cx = Math.round(((i + 1) * W) / (n + 1) + shift * W);
      graph.push(
        `[${last}][${i + 1}:v]overlay=x=${cx}-overlay_w/2:y=${ground + Math.round(H * 0.04)}-overlay_h[f${i}]`,
      );
      last = `f${i}`;
      const file = join(dir, `name-${i}.txt`);
      await Bun.write(file, c.name);
      tags.push(
        `drawtext=fontfile=${filterPath(FONT)}:textfile=${filterPath(file)}:fontsize=${Math.max(12, Math.round(H * 0.04))}:fontcolor=white:box=1:boxcolor=black@0.55:boxborderw=4:x=${cx}-text_w/2:y=${ground + Math.round(H * 0.05)}`,
      );
    }
    // Black and white with hard contrast, as a manga page; before the caption, which stays legible.
    if (spec.look?.monochrome) tags.push("hue=s=0", "eq=contrast=1.5");
    if (spec.caption) {
      const file = join(dir, "caption.txt");
      await Bun.write(file, spec.caption);
      tags.push(
        `drawtext=fontfile=${filterPath(FONT)}:textfile=${filterPath(file)}:fontsize=${Math.max(14, Math.round(H * 0.05))}:fontcolor=white:box=1:boxcolor=black@0.5:boxborderw=8:x=(w-text_w)/2:y=h-text_h-${Math.round(H * 0.05)}`,
      );
    }
    const out = join(dir, "keyframe.png");
    graph.push(`[${last}]${tags.length > 0 ? tags.join(",") : "null"}[out]`);
    await runFfmpeg(
      ["-i", background, ...inputs, "-filter_complex", graph.join(";"), "-map", "[out]", "-frames:v", "1", out],
      {
        signal: spec.signal,
        timeoutMs: 60_000,
      },
    );
    return Bun.file(out).bytes();
  });
}

/** The character alone on a neutral sheet, with its name: the reference for every shot. */
export function paintReferenceSheet(
  character: KeyframeSpec["characters"][number],
  size: { width: number; height: number },
  look?: KeyframeSpec["look"],
): Promise<Uint8Array> {
  return paintKeyframe({
    ...size,
    scene: { location: "studio", timeOfDay: "day", mood: "calm" },
    characters: [character],
    caption: character.name,
    ...(look ? { look } : {}),
  });
}
