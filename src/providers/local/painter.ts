import { createHash } from "node:crypto";
import { join } from "node:path";
import { Resvg } from "@resvg/resvg-js";
import type { Lru } from "../../core/lru.ts";
import { filterPath, runFfmpeg, withTempDir } from "../../media/ffmpeg.ts";
import { fontFile } from "../../media/fonts.ts";
import type { Camera, TimeOfDay } from "../../story/schemas.ts";
import type { Weather } from "../../story/weather.ts";
import type { Box, Mood, PaintedLayout, SceneHint, TalkTrack } from "../types.ts";
import {
  FIGURE_H,
  type FigureSpec,
  figureBody,
  figurePng,
  openMouthBox,
  openMouthPng,
  peopleStyle,
} from "./figures.ts";
import { layerSvg, type SceneSpec, sceneLayers, weatherTile } from "./scenery.ts";

export interface KeyframeSpec {
  width: number;
  height: number;
  scene: { location: string; timeOfDay: TimeOfDay; mood: Mood; weather?: Weather };
  /** Placed left to right, each drawn as its figure (a person unless it says otherwise). */
  characters: Array<{ name: string; figure?: Omit<FigureSpec, "style"> }>;
  caption?: string;
  /** The art style: its first colour washes over the scene; monochrome (manga) draws in greys. */
  look?: { palette: string[]; monochrome?: boolean; style?: string };
  /** Another seed, another composition (where the group stands, which way the camera drifts); the characters stay the same. */
  seed?: number;
  /** How large the characters are drawn: a wide shot shows them whole, a close-up one of them from the chest up. */
  camera?: Camera;
  /** Drawn in front of the others, a little nearer (the shot's first speaker). */
  speaker?: string;
  signal?: AbortSignal;
}

/**
 * What the painter drew kept between pictures, by the digest of what it is drawn from: layer and
 * sprite PNGs for clips, text shaped as paths for keyframes. One per process (the worker's).
 */
export type PaintCache = Lru<string, Uint8Array | TextShape>;

/** Who paints, and the version of how: a picture's layout is only taken apart again by the same painter. */
export const PAINTER_ID = "inkreel-painter-1";
/** Bumped whenever the painter draws differently: stored previews keyed by it are redrawn. */
export const PAINTER_VERSION = 5;
const PAINTER = `${PAINTER_ID}@${PAINTER_VERSION}`;

// A CJK font shipped as a package: Chinese captions and name tags render offline.
const FONT = fontFile();

/** The mood's colour and strength, washed over the scene (never over the characters). */
const TINT: Record<Mood, [rgb: number, alpha: number]> = {
  calm: [0x4080c0, 0.1],
  happy: [0xffd040, 0.12],
  sad: [0x405070, 0.25],
  tense: [0xc03020, 0.15],
  epic: [0xffa000, 0.12],
  mysterious: [0x602080, 0.22],
};

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

/**
 * Each camera's figures: height and where the feet are, as fractions of the frame's height. A wide
 * shot stands them whole on the floor; a medium shot cuts them at the thighs; a close-up shows one
 * from the chest up; from the air they are small.
 */
const FRAMING: Record<Camera, { height: number; feet: number; one?: true }> = {
  wide: { height: 0.5, feet: 0.76 },
  tracking: { height: 0.5, feet: 0.76 },
  aerial: { height: 0.34, feet: 0.74 },
  medium: { height: 0.9, feet: 1.14 },
  over_shoulder: { height: 0.9, feet: 1.14 },
  close_up: { height: 1.1, feet: 1.26, one: true },
};

/** How far the nearest layer drifts across a clip, as a share of the layer margin, by camera. */
const DRIFT: Record<Camera, number> = {
  wide: 0.5,
  tracking: 1,
  aerial: 0.5,
  medium: 0.35,
  over_shoulder: 0.6,
  close_up: 0.25,
};

/** How far each layer moves with the camera (the floor and the characters move most): depth. */
const DEPTH = { sky: 0.15, far: 0.45, near: 1 } as const;

/** Each side of a layer beyond the frame, as a share of the width: room for the layers to drift. */
const MARGIN = 0.04;

/** The characters of a scene hint as the painter places them, each with its figure when the hint has one. */
export function charactersOf(hint: SceneHint | undefined): KeyframeSpec["characters"] {
  return (hint?.characters ?? []).map((name) => {
    const f = hint?.figures?.find((x) => x.name === name);
    return f ? { name, figure: { seed: f.seed, species: f.species, gender: f.gender, age: f.age } } : { name };
  });
}

/** A keyframe spec from a scene hint: what both the image and the video model paint. */
export function specOfHint(
  hint: SceneHint,
  size: { width: number; height: number },
  extra: Pick<KeyframeSpec, "seed" | "signal" | "caption"> = {},
): KeyframeSpec {
  return {
    ...size,
    scene: {
      location: hint.location,
      timeOfDay: hint.timeOfDay,
      mood: hint.mood,
      ...(hint.weather ? { weather: hint.weather } : {}),
    },
    characters: charactersOf(hint),
    ...(hint.look ? { look: hint.look } : {}),
    ...(hint.camera ? { camera: hint.camera } : {}),
    ...(hint.speaker ? { speaker: hint.speaker } : {}),
    ...extra,
  };
}

/** How a character without traits is drawn: a person, seeded by its name. */
const figureOf = (c: KeyframeSpec["characters"][number]): Omit<FigureSpec, "style"> =>
  c.figure ?? { seed: c.name, species: "human", gender: "unknown", age: "unknown" };

/** A figure as placed in the frame: its sprite's top-left corner and height, its mouth, its name tag. */
export interface Placement {
  name: string;
  figure: FigureSpec;
  x: number;
  y: number;
  height: number;
  mouth: Box;
  tag: { cx: number; y: number };
}

/**
 * Where each character stands, back to front (the speaker drawn last, a little larger and lower):
 * spread along the floor line, sized by the camera, the group shifted by the seed.
 */
export function placeFigures(spec: KeyframeSpec): Placement[] {
  const { width: W, height: H } = spec;
  const frame = FRAMING[spec.camera ?? "wide"];
  const style = peopleStyle(spec.look?.style);
  const speaker = spec.characters.find((c) => c.name === spec.speaker) ?? null;
  const shown = frame.one ? [speaker ?? spec.characters[0]].filter((c) => c !== undefined) : spec.characters;
  const n = shown.length;
  const shift = spec.seed ? (((((spec.seed * 7919) % 21) + 21) % 21) - 10) / 100 : 0;
  const placed = shown.map((c, i) => {
    const front = c === speaker && n > 1;
    const height = Math.round(H * frame.height * (front ? 1.08 : 1));
    const feet = Math.round(H * (frame.feet + (front ? 0.02 : 0)));
    const cx = Math.round(((i + 1) * W) / (n + 1) + shift * W);
    const figure: FigureSpec = { ...figureOf(c), style, mood: spec.scene.mood };
    const x = cx - Math.round(height / 4);
    const y = feet - height;
    const m = openMouthBox(figure, height);
    return {
      front,
      name: c.name,
      figure,
      x,
      y,
      height,
      mouth: { x: x + m.x, y: y + m.y, w: m.w, h: m.h },
      tag: { cx, y: Math.min(feet + Math.round(H * 0.01), Math.round(H * 0.78)) },
    };
  });
  // The speaker last: drawn over the others.
  return [...placed.filter((f) => !f.front), ...placed.filter((f) => f.front)].map(({ front: _, ...p }) => p);
}

/** A PNG drawn once per digest: the cache (when given) keeps what was drawn for the next picture. */
function cached<T extends Uint8Array | TextShape>(cache: PaintCache | undefined, what: unknown, draw: () => T): T {
  if (!cache) return draw();
  const key = createHash("sha256").update(JSON.stringify(what)).digest("hex");
  const hit = cache.get(key);
  // The key names what was drawn (its kind is the first element), so a hit is of the same kind.
  if (hit) return hit as T;
  const made = draw();
  cache.set(key, made);
  return made;
}

/** A line of text as SVG paths with its bounding box: drawn again without loading the font. */
export interface TextShape {
  body: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** `text` without what XML cannot hold: control characters (but tab and line breaks) and lone surrogates. */
const xmlSafe = (text: string) =>
  [...text]
    .filter((c) => {
      const n = c.codePointAt(0)!;
      return (
        (n >= 0x20 || n === 9 || n === 10 || n === 13) && !(n >= 0xd800 && n <= 0xdfff) && n !== 0xfffe && n !== 0xffff
      );
    })
    .join("");

/** Shapes `text` in the shipped CJK font at `size` px, baseline at y = size (resvg turns text into paths). */
function shapeText(text: string, size: number): TextShape {
  // XML escaped, and without what XML cannot hold (control characters, lone surrogates).
  const escaped = xmlSafe(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const r = new Resvg(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size * 40}" height="${size * 2}"><text x="0" y="${size}" font-family="Noto Sans SC" font-size="${size}" fill="#ffffff">${escaped}</text></svg>`,
    { font: { loadSystemFonts: false, fontFiles: [FONT], defaultFontFamily: "Noto Sans SC" } },
  );
  const box = r.getBBox();
  const body = r
    .toString()
    .replace(/^\s*<svg[^>]*>/, "")
    .replace(/<\/svg>\s*$/, "");
  return box ? { body, x: box.x, y: box.y, w: box.width, h: box.height } : { body: "", x: 0, y: 0, w: 0, h: 0 };
}

/** Text on a dark box, its box's top centred at (cx, top), `pad` px around the text. */
function label(t: TextShape, cx: number, top: number, pad: number, opacity: number): string {
  const x = cx - t.w / 2;
  return `<rect x="${f5(x - pad)}" y="${f5(top - pad)}" width="${f5(t.w + 2 * pad)}" height="${f5(t.h + 2 * pad)}" fill="#000" opacity="${opacity}"/><g transform="translate(${f5(x - t.x)} ${f5(top - t.y)})">${t.body}</g>`;
}

const svgPng = (svg: string) => new Uint8Array(new Resvg(svg, { font: { loadSystemFonts: false } }).render().asPng());

const hex = (rgb: number) => `#${rgb.toString(16).padStart(6, "0")}`;

/** The art style's wash: its first colour, when it is one. */
function paletteWash(spec: KeyframeSpec): number | null {
  const c = spec.look?.palette[0];
  return c && /^#[0-9a-f]{6}$/i.test(c) ? Number.parseInt(c.slice(1), 16) : null;
}

/** Greys with hard contrast, as a manga page (the SVG twin of MONOCHROME). */
const MONO_FILTER = `<filter id="mono" x="0" y="0" width="1" height="1" color-interpolation-filters="sRGB"><feColorMatrix type="matrix" values="0.3 0.59 0.11 0 0 0.3 0.59 0.11 0 0 0.3 0.59 0.11 0 0 0 0 0 1 0"/><feComponentTransfer><feFuncR type="linear" slope="1.5" intercept="-0.25"/><feFuncG type="linear" slope="1.5" intercept="-0.25"/><feFuncB type="linear" slope="1.5" intercept="-0.25"/></feComponentTransfer></filter>`;

/**
 * The keyframe as one SVG, rendered by resvg (no ffmpeg, no font loaded: text comes shaped from
 * the cache): the layers at rest, the mood's and the style's wash over them, the weather, the
 * figures and their name tags, the caption. The same geometry as a clip's frame at rest.
 */
function keyframeSvg(spec: KeyframeSpec, placed: Placement[], cache: PaintCache | undefined): string {
  const { width: W, height: H } = spec;
  const M = margin(W);
  const scene = sceneOf(spec, M);
  const l = sceneLayers(scene);
  const [tint, alpha] = TINT[spec.scene.mood];
  const wash = paletteWash(spec);
  const back = `<g transform="translate(${-M} 0)">${l.sky}${l.far}${l.near}</g><rect width="${W}" height="${H}" fill="${hex(tint)}" opacity="${alpha}"/>${wash === null ? "" : `<rect width="${W}" height="${H}" fill="${hex(wash)}" opacity="0.2"/>`}${l.weather ? `<g transform="translate(${-M} 0)">${l.weather}</g>` : ""}`;
  const tagSize = Math.max(12, Math.round(H * 0.04));
  const figures = placed
    .map((f) => `<g transform="translate(${f.x} ${f.y}) scale(${f5(f.height / FIGURE_H)})">${figureBody(f.figure)}</g>`)
    .join("");
  const tags = placed
    .map((f) =>
      label(
        cached(cache, ["text", f.name, tagSize], () => shapeText(f.name, tagSize)),
        f.tag.cx,
        f.tag.y,
        4,
        0.55,
      ),
    )
    .join("");
  let caption = "";
  if (spec.caption) {
    const size = Math.max(14, Math.round(H * 0.05));
    const t = cached(cache, ["text", spec.caption, size], () => shapeText(spec.caption!, size));
    caption = label(t, W / 2, H - t.h - Math.round(H * 0.05), 8, 0.5);
  }
  const mono = spec.look?.monochrome;
  // Black and white before the caption, which stays legible.
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${mono ? `<defs>${MONO_FILTER}</defs>` : ""}<g${mono ? ` filter="url(#mono)"` : ""}>${back}${figures}${tags}</g>${caption}</svg>`;
}

/** Each side of a layer beyond the frame, in px (even). */
const margin = (W: number) => Math.round((W * MARGIN) / 2) * 2;

/** The scene as scenery.ts draws its layers: the frame's height, the width plus a margin each side. */
const sceneOf = (spec: KeyframeSpec, M: number): SceneSpec => ({
  width: spec.width + 2 * M,
  height: spec.height,
  ...spec.scene,
  floor: FLOOR,
});

/** lutrgb expressions that wash `rgb` at `alpha` over a picture, keeping its transparency. */
function lutWash(rgb: number, alpha: number): string {
  const ch = (shift: number) => `val*${(1 - alpha).toFixed(3)}+${(((rgb >> shift) & 255) * alpha).toFixed(1)}`;
  return `lutrgb=r='${ch(16)}':g='${ch(8)}':b='${ch(0)}'`;
}

/** Greys with hard contrast, as a manga page, keeping transparency. */
const MONOCHROME =
  "colorchannelmixer=rr=0.3:rg=0.59:rb=0.11:gr=0.3:gg=0.59:gb=0.11:br=0.3:bg=0.59:bb=0.11,lutrgb=r='clip((val-128)*1.5+128,0,255)':g='clip((val-128)*1.5+128,0,255)':b='clip((val-128)*1.5+128,0,255)'";

/** How a clip moves: its frames, and the camera that drifts the layers and zooms. */
export interface ClipMotion {
  frames: number;
  fps: number;
  camera: Camera;
  /** When each character's mouth is open, in seconds from the clip's start. */
  talk?: TalkTrack[];
}

const f5 = (n: number) => Number(n.toFixed(5));

/** The zoom and the view's vertical centre from the clip's start to its end, by camera (the drift is the layers'). */
const ZOOM: Record<Camera, { zoom: [number, number]; y: [number, number] }> = {
  wide: { zoom: [1.12, 1.0], y: [0.5, 0.5] },
  medium: { zoom: [1.0, 1.08], y: [0.5, 0.48] },
  close_up: { zoom: [1.04, 1.14], y: [0.5, 0.46] },
  over_shoulder: { zoom: [1.08, 1.08], y: [0.5, 0.5] },
  tracking: { zoom: [1.1, 1.1], y: [0.5, 0.5] },
  aerial: { zoom: [1.2, 1.02], y: [0.42, 0.5] },
};

/** ffmpeg's `enable` expression for a list of intervals (never true for none). */
const during = (spans: Array<[number, number]>) =>
  spans.length ? spans.map(([a, b]) => `between(t,${f5(a)},${f5(b)})`).join("+") : "0";

/**
 * Paints the scene in layers and composes its clip in one ffmpeg run: the sky, the far and the
 * near layers drift by their depth (through the keyframe's view at mid-clip), the weather falls,
 * the characters move with the floor and open their mouths while they speak, and the camera
 * zooms. Each layer and sprite is decoded, washed and looped once, so a frame costs a few overlays
 * in YUV, where ffmpeg's blending is fast.
 */
async function composeClip(
  spec: KeyframeSpec,
  motion: ClipMotion,
  dir: string,
  out: string,
  cache: PaintCache | undefined,
): Promise<void> {
  const { width: W, height: H } = spec;
  const { frames, fps } = motion;
  const M = margin(W);
  const scene = sceneOf(spec, M);
  const l = sceneLayers(scene);
  const inputs: string[] = [];
  const graph: string[] = [];
  /** Adds a PNG input, washed and looped for the clip's frames; returns its label. */
  const input = async (name: string, png: Uint8Array, filters: string[], opaque = false) => {
    const file = join(dir, `${name}.png`);
    await Bun.write(file, png);
    inputs.push("-i", file);
    const i = inputs.length / 2 - 1;
    const loop = [`loop=loop=${frames - 1}:size=1:start=0`, `setpts=N/${fps}/TB`];
    graph.push(
      `[${i}:v]${["format=rgba", ...filters, opaque ? "format=yuv420p" : "format=yuva420p", ...loop].join(",")}[i${i}]`,
    );
    return `i${i}`;
  };
  const [tint, alpha] = TINT[spec.scene.mood];
  const wash = paletteWash(spec);
  const mono = spec.look?.monochrome ? [MONOCHROME] : [];
  const tone = [lutWash(tint, alpha), ...(wash === null ? [] : [lutWash(wash, 0.2)]), ...mono];
  const png = (name: string, body: string, h = H) =>
    cached(cache, [name, PAINTER, scene, h], () => svgPng(layerSvg(scene, body, h)));

  // The drift of the nearest layer at time t: from one side through rest (the keyframe) to the other.
  const side = (spec.seed ?? 0) % 2 === 0 ? 1 : -1;
  const A = Math.round(M * DRIFT[motion.camera]) * side;
  const T = f5(frames / fps);
  const p = `(3*pow(t/${T},2)-2*pow(t/${T},3))`;
  const drift = (depth: number) => (A === 0 ? "0" : `${f5(A * depth)}*(2*${p}-1)`);

  const sky = await input("sky", png("sky", l.sky), tone, true);
  graph.push(`[${sky}]crop=${W}:${H}:x='${M}+${drift(DEPTH.sky)}':y=0[b0]`);
  let last = "b0";
  for (const [i, [name, body, depth]] of (
    [
      ["far", l.far, DEPTH.far],
      ["near", l.near, DEPTH.near],
    ] as const
  ).entries()) {
    if (!body) continue;
    const layer = await input(name, png(name, body), tone);
    graph.push(`[${layer}]crop=${W}:${H}:x='${M}+${drift(depth)}':y=0[c${i}]`);
    graph.push(`[${last}][c${i}]overlay=x=0:y=0[b${i + 1}]`);
    last = `b${i + 1}`;
  }
  if (l.weather) {
    // Rain falls fast, snow drifts down, fog stays; a falling tile repeats every frame-height.
    const falling = scene.weather !== "fog";
    const tile = png("weather", weatherTile(scene, falling ? 2 : 1), falling ? 2 * H : H);
    const layer = await input("weather", tile, mono);
    const speed = scene.weather === "rain" ? 1.4 : 0.12;
    const y = falling ? `${H}-mod(t*${f5(H * speed)},${H})` : "0";
    graph.push(`[${layer}]crop=${W}:${H}:x=${M}:y='${y}'[w]`);
    graph.push(`[${last}][w]overlay=x=0:y=0[bw]`);
    last = "bw";
  }
  const placed = placeFigures(spec);
  const move = drift(DEPTH.near);
  const tags: string[] = [];
  for (const [i, f] of placed.entries()) {
    const sprite = await input(
      `figure-${i}`,
      cached(cache, ["figure", f.figure, f.height], () => figurePng(f.figure, f.height)),
      mono,
    );
    graph.push(`[${last}][${sprite}]overlay=x='${f.x}-${move}':y=${f.y}[f${i}]`);
    last = `f${i}`;
    const talk = motion.talk?.find((t) => t.name === f.name)?.open ?? [];
    if (talk.length) {
      const mouth = await input(
        `mouth-${i}`,
        cached(cache, ["mouth", f.figure, f.height], () => openMouthPng(f.figure, f.height).png),
        mono,
      );
      graph.push(`[${last}][${mouth}]overlay=x='${f.mouth.x}-${move}':y=${f.mouth.y}:enable='${during(talk)}'[m${i}]`);
      last = `m${i}`;
    }
    const file = join(dir, `name-${i}.txt`);
    await Bun.write(file, f.name);
    tags.push(
      `drawtext=fontfile=${filterPath(FONT)}:textfile=${filterPath(file)}:fontsize=${Math.max(12, Math.round(H * 0.04))}:fontcolor=white:box=1:boxcolor=black@0.55:boxborderw=4:x='${f.tag.cx}-${move}-text_w/2':y=${f.tag.y}`,
    );
  }
  if (spec.caption) {
    const file = join(dir, "caption.txt");
    await Bun.write(file, spec.caption);
    tags.push(
      `drawtext=fontfile=${filterPath(FONT)}:textfile=${filterPath(file)}:fontsize=${Math.max(14, Math.round(H * 0.05))}:fontcolor=white:box=1:boxcolor=black@0.5:boxborderw=8:x=(w-text_w)/2:y=h-text_h-${Math.round(H * 0.05)}`,
    );
  }
  const z = ZOOM[motion.camera];
  const q = `(3*pow(on/${Math.max(1, frames - 1)},2)-2*pow(on/${Math.max(1, frames - 1)},3))`;
  const lerp = ([a, b]: [number, number]) => `(${f5(a)}+${f5(b - a)}*${q})`;
  tags.push(
    `zoompan=z='${lerp(z.zoom)}':x='iw/2-iw/zoom/2':y='max(0,min(ih-ih/zoom,ih*${lerp(z.y)}-ih/zoom/2))':d=1:s=${W}x${H}:fps=${fps}`,
    "setsar=1",
    "format=yuv420p",
  );
  graph.push(`[${last}]${tags.join(",")}[out]`);
  await runFfmpeg(
    [...inputs, "-filter_complex", graph.join(";"), "-map", "[out]", "-frames:v", String(frames), ...CLIP_ENCODER, out],
    { signal: spec.signal, timeoutMs: 5 * 60_000, durationS: frames / fps },
  );
}

/** How a local clip is encoded: silent H.264 that the export can cut and join without surprises. */
export const CLIP_ENCODER = [
  ...["-c:v", "libx264", "-preset", "superfast", "-crf", "18", "-pix_fmt", "yuv420p", "-movflags", "+faststart"],
  "-an",
] as const;

/** The layout kept with a keyframe: what it was painted from, and where each figure's mouth is. */
function layoutOf(spec: KeyframeSpec, hint: SceneHint | undefined, placed: Placement[]): PaintedLayout | undefined {
  if (!hint) return undefined;
  return {
    painter: PAINTER,
    seed: spec.seed ?? 0,
    width: spec.width,
    height: spec.height,
    scene: hint,
    figures: placed.map((f) => ({ name: f.name, mouth: f.mouth })),
  };
}

/** Whether a picture's layout is this painter's own, so its clip can be painted in layers. */
export const isOwnLayout = (layout: PaintedLayout | undefined): layout is PaintedLayout => layout?.painter === PAINTER;

/**
 * A keyframe PNG: the scene's illustrated background in layers (scenery.ts: its kind of place,
 * time of day and weather) washed by the mood, each character's figure (figures.ts) on the floor
 * line sized by the camera with a name tag, and the caption — composed by ffmpeg, all offline.
 * With the hint it was made from, also the layout its clip is painted from (see paintClip).
 */
export async function paintScene(
  spec: KeyframeSpec,
  options: { hint?: SceneHint; cache?: PaintCache } = {},
): Promise<{ png: Uint8Array; layout?: PaintedLayout }> {
  validate(spec);
  spec.signal?.throwIfAborted();
  const placed = placeFigures(spec);
  const png = svgPng(keyframeSvg(spec, placed, options.cache));
  const layout = layoutOf(spec, options.hint, placed);
  return { png, ...(layout ? { layout } : {}) };
}

export async function paintKeyframe(spec: KeyframeSpec, cache?: PaintCache): Promise<Uint8Array> {
  return (await paintScene(spec, cache ? { cache } : {})).png;
}

/** The clip of a painted scene (see composeClip): its layers drifting apart, its speakers' mouths moving. */
export async function paintClip(spec: KeyframeSpec, motion: ClipMotion, cache?: PaintCache): Promise<Uint8Array> {
  validate(spec);
  if (!(Number.isInteger(motion.frames) && motion.frames >= 1)) throw new RangeError("a clip has at least one frame");
  return withTempDir(async (dir) => {
    const out = join(dir, "clip.mp4");
    await composeClip(spec, motion, dir, out, cache);
    return Bun.file(out).bytes();
  });
}

/** The character alone on a neutral sheet, with its name: the reference for every shot. */
export function paintReferenceSheet(
  character: KeyframeSpec["characters"][number],
  size: { width: number; height: number },
  look?: KeyframeSpec["look"],
  cache?: PaintCache,
): Promise<Uint8Array> {
  return paintKeyframe(
    {
      ...size,
      scene: { location: "studio", timeOfDay: "day", mood: "calm" },
      characters: [character],
      caption: character.name,
      ...(look ? { look } : {}),
    },
    cache,
  );
}
