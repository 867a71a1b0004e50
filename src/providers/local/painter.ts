import { createHash } from "node:crypto";
import { join } from "node:path";
import { filterPath, runFfmpeg, withTempDir } from "../../media/ffmpeg.ts";
import { fontFile } from "../../media/fonts.ts";
import type { TimeOfDay } from "../../story/schemas.ts";
import type { Mood } from "../types.ts";

export interface KeyframeSpec {
  width: number;
  height: number;
  scene: { location: string; timeOfDay: TimeOfDay; mood: Mood };
  /** Placed left to right, each with its one visual signature. */
  characters: Array<{ name: string }>;
  caption?: string;
  /** The art style: its first colour washes over the scene; monochrome (manga) draws in greys. */
  look?: { palette: string[]; monochrome?: boolean };
  /** Another seed, another composition (where the group stands, where the sun is); the characters stay the same. */
  seed?: number;
  signal?: AbortSignal;
}

/** A character's look: the same colours and proportions in every shot and on its reference sheet. */
export interface Signature {
  body: string;
  accent: string;
  /** Body width and height as fractions of the frame height. */
  w: number;
  h: number;
}

// A CJK font shipped as a package: Chinese captions and name tags render offline.
const FONT = fontFile();

const SKY: Record<TimeOfDay, string> = { dawn: "0xe8a27c", day: "0x87b8e8", dusk: "0x8a4f7d", night: "0x1c2541" };
const TINT: Record<Mood, string> = {
  calm: "0x4080c0@0.10",
  happy: "0xffd040@0.12",
  sad: "0x405070@0.25",
  tense: "0xc03020@0.15",
  epic: "0xffa000@0.12",
  mysterious: "0x602080@0.22",
};
const INDOOR = /[房室屋殿厅堂店馆楼内]|room|house|hall|office|inside|indoor|kitchen|shop/i;

const hex = (n: number) => `0x${(n & 0xffffff).toString(16).padStart(6, "0")}`;

export function signature(name: string): Signature {
  const h = createHash("sha256").update(name).digest();
  // Saturated, not too dark: HSV-ish from the hash.
  const pick = (i: number) => 64 + (h[i]! % 160);
  return {
    body: hex((pick(0) << 16) | (pick(1) << 8) | pick(2)),
    accent: hex((pick(3) << 16) | (pick(4) << 8) | pick(5)),
    w: 0.1 + (h[6]! % 5) * 0.015,
    h: 0.32 + (h[7]! % 5) * 0.03,
  };
}

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

/** drawbox/drawtext filters for one character standing with its feet at `ground`. */
function figure(sig: Signature, cx: number, ground: number, H: number, nameFile: string) {
  const w = Math.round(sig.w * H);
  const h = Math.round(sig.h * H);
  const x = Math.round(cx - w / 2);
  const y = ground - h;
  const head = Math.round(w * 0.8);
  return [
    `drawbox=x=${x}:y=${y}:w=${w}:h=${h}:color=${sig.body}@1:t=fill`,
    `drawbox=x=${Math.round(cx - head / 2)}:y=${y - head}:w=${head}:h=${head}:color=${sig.accent}@1:t=fill`,
    `drawbox=x=${x}:y=${y + Math.round(h * 0.45)}:w=${w}:h=${Math.max(2, Math.round(h * 0.06))}:color=${sig.accent}@1:t=fill`,
    `drawtext=fontfile=${filterPath(FONT)}:textfile=${filterPath(nameFile)}:fontsize=${Math.max(12, Math.round(H * 0.04))}:fontcolor=white:box=1:boxcolor=black@0.55:boxborderw=4:x=${Math.round(cx)}-text_w/2:y=${ground + 6}`,
  ];
}

/**
 * A keyframe PNG drawn by ffmpeg: sky by time of day, ground by location (indoor floors differ),
 * a mood tint, each character's signature figure with a name tag, and the caption — all offline.
 */
export async function paintKeyframe(spec: KeyframeSpec): Promise<Uint8Array> {
  validate(spec);
  const { width: W, height: H } = spec;
  return withTempDir(async (dir) => {
    const ground = Math.round(H * 0.72);
    const loc = createHash("sha256").update(spec.scene.location).digest();
    const floor = INDOOR.test(spec.scene.location)
      ? hex(((90 + (loc[0]! % 60)) << 16) | ((60 + (loc[1]! % 40)) << 8) | (40 + (loc[2]! % 30)))
      : hex(((40 + (loc[0]! % 50)) << 16) | ((80 + (loc[1]! % 70)) << 8) | (40 + (loc[2]! % 40)));
    const filters = [
      `drawbox=x=0:y=${ground}:w=${W}:h=${H - ground}:color=${floor}@1:t=fill`,
      spec.scene.timeOfDay === "night"
        ? `drawbox=x=${Math.round(W * 0.8)}:y=${Math.round(H * 0.08)}:w=${Math.round(H * 0.08)}:h=${Math.round(H * 0.08)}:color=0xf0f0d0@1:t=fill`
        : `drawbox=x=${Math.round(W * 0.8)}:y=${Math.round(H * 0.08)}:w=${Math.round(H * 0.1)}:h=${Math.round(H * 0.1)}:color=0xfff0a0@0.9:t=fill`,
      // The mood tints the scene only: characters keep their signature colours in every shot.
      `drawbox=x=0:y=0:w=${W}:h=${H}:color=${TINT[spec.scene.mood]}:t=fill`,
    ];
    const wash = spec.look?.palette[0];
    if (wash && /^#[0-9a-f]{6}$/i.test(wash))
      filters.push(`drawbox=x=0:y=0:w=${W}:h=${H}:color=0x${wash.slice(1)}@0.2:t=fill`);
    const n = spec.characters.length;
    const shift = spec.seed ? (((((spec.seed * 7919) % 21) + 21) % 21) - 10) / 100 : 0;
    for (let i = 0; i < n; i++) {
      const { name } = spec.characters[i]!;
      const file = join(dir, `name-${i}.txt`);
      await Bun.write(file, name);
      filters.push(...figure(signature(name), ((i + 1) * W) / (n + 1) + shift * W, ground, H, file));
    }
    // Black and white with hard contrast, as a manga page; before the caption, which stays legible.
    if (spec.look?.monochrome) filters.push("hue=s=0", "eq=contrast=1.5");
    if (spec.caption) {
      const file = join(dir, "caption.txt");
      await Bun.write(file, spec.caption);
      filters.push(
        `drawtext=fontfile=${filterPath(FONT)}:textfile=${filterPath(file)}:fontsize=${Math.max(14, Math.round(H * 0.05))}:fontcolor=white:box=1:boxcolor=black@0.5:boxborderw=8:x=(w-text_w)/2:y=h-text_h-${Math.round(H * 0.05)}`,
      );
    }
    const out = join(dir, "keyframe.png");
    await runFfmpeg(
      [
        "-f",
        "lavfi",
        "-i",
        `color=c=${SKY[spec.scene.timeOfDay]}:s=${W}x${H}`,
        "-vf",
        filters.join(","),
        "-frames:v",
        "1",
        out,
      ],
      {
        signal: spec.signal,
        timeoutMs: 60_000,
      },
    );
    return Bun.file(out).bytes();
  });
}

/** The character alone on a neutral sheet, large, with its name: the reference for every shot. */
export function paintReferenceSheet(name: string, size: { width: number; height: number }): Promise<Uint8Array> {
  return paintKeyframe({
    ...size,
    scene: { location: "studio", timeOfDay: "day", mood: "calm" },
    characters: [{ name }],
    caption: name,
  });
}
