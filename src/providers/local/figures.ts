/**
 * The offline painter's characters: people as DiceBear heads (CC0 / CC BY styles, see the README)
 * on a drawn body, animals as procedural SVG per species — each varied by a seed (the character's
 * id), so the same character looks the same in every shot and every project, and rendered to PNG
 * by resvg (no browser, no network).
 */
import { createHash } from "node:crypto";
import { adventurer, lorelei, notionists, openPeeps } from "@dicebear/collection";
import { createAvatar } from "@dicebear/core";
import { Resvg } from "@resvg/resvg-js";
import type { Species } from "../../story/schemas.ts";
import type { Mood } from "../types.ts";

/** The DiceBear style each art style draws people in (by art-style name; openPeeps otherwise). */
const PEOPLE_STYLES = { openPeeps, notionists, lorelei, adventurer } as const;
export type PeopleStyle = keyof typeof PEOPLE_STYLES;
const BY_ART_STYLE: Record<string, PeopleStyle> = {
  anime: "lorelei",
  manga: "notionists",
  ink: "notionists",
  comic: "adventurer",
  realistic: "openPeeps",
};
export const peopleStyle = (artStyle: string | undefined): PeopleStyle =>
  (artStyle && BY_ART_STYLE[artStyle]) || "openPeeps";

export interface FigureSpec {
  /** What the look is drawn from: the same seed, the same figure. */
  seed: string;
  species: Species;
  gender: string;
  age: string;
  style: PeopleStyle;
  /** The shot's mood: the face follows it (a character's faces stay its own). */
  mood?: Mood;
}

/** Open Peeps and Lorelei faces by mood; the character's seed picks among them. */
const OPEN_PEEPS_FACES: Record<Mood, string[]> = {
  calm: ["calm", "cute", "explaining", "smile"],
  happy: ["smile", "smileBig", "cheeky", "lovingGrin1"],
  sad: ["concerned", "solemn", "eyesClosed"],
  tense: ["fear", "concernedFear", "hectic", "serious"],
  epic: ["driven", "rage", "serious"],
  mysterious: ["suspicious", "contempt", "blank"],
};
const LORELEI_MOUTHS: Record<Mood, string[]> = {
  calm: ["happy01", "happy02", "happy03"],
  happy: ["happy08", "happy09", "happy10", "happy11"],
  sad: ["sad01", "sad02", "sad03", "sad04"],
  tense: ["sad05", "sad06", "sad07"],
  epic: ["happy12", "happy13", "happy14"],
  mysterious: ["sad08", "sad09", "happy04"],
};

/** DiceBear options that give the head the mood's face. */
function moodFace(style: PeopleStyle, mood: Mood | undefined, b: Buffer): Record<string, string[]> {
  if (!mood) return {};
  const pick = (list: string[]) => [list[b[6]! % list.length]!];
  if (style === "openPeeps") return { face: pick(OPEN_PEEPS_FACES[mood]) };
  if (style === "lorelei") return { mouth: pick(LORELEI_MOUTHS[mood]) };
  return {};
}

/** Figures are drawn on a 200 × 400 canvas, feet at the bottom. */
export const FIGURE_W = 200;
export const FIGURE_H = 400;

const bytesOf = (seed: string) => createHash("sha256").update(seed).digest();

/** An HSL colour as #rrggbb. */
function hsl(h: number, s: number, l: number): string {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    const c = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(255 * c)
      .toString(16)
      .padStart(2, "0");
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}

/** Hair colours a character's seed picks from (mostly dark; grey for the old). */
const HAIR = ["1f1410", "2c1b18", "3b2219", "4a312c", "6a3e25", "8d5524", "a55728", "c58c4b", "3b3b6d", "6d2e46"];
const GREY_HAIR = ["b9b9b9", "d9d9d9", "8f8f8f"];

/**
 * DiceBear options that colour the hair by the character's seed, in the styles that draw it in
 * colour: two characters of one story whose heads share a cut still look apart.
 */
function hairColour(style: PeopleStyle, age: string, b: Buffer): Record<string, string[]> {
  if (style !== "lorelei" && style !== "adventurer") return {};
  const list = age === "elder" ? GREY_HAIR : HAIR;
  return { hairColor: [list[b[11]! % list.length]!] };
}

/** A person: the DiceBear head over a body in a clothing colour of their own. */
function personSvg(spec: FigureSpec, b: Buffer): string {
  const head = createAvatar(PEOPLE_STYLES[spec.style] as Parameters<typeof createAvatar>[0], {
    seed: spec.seed,
    backgroundColor: ["transparent"],
    ...hairColour(spec.style, spec.age, b),
    ...moodFace(spec.style, spec.mood, b),
  }).toString();
  const child = spec.age === "child";
  const scale = child ? 0.78 : 1;
  const coat = hsl(b[0]! * 1.41, 0.45 + (b[1]! % 30) / 100, 0.35 + (b[2]! % 20) / 100);
  const legs = hsl(b[3]! * 1.41, 0.25, 0.22 + (b[4]! % 15) / 100);
  const skirt = spec.gender === "female" && b[5]! % 2 === 0;
  const top = FIGURE_H * (1 - scale);
  const y = (v: number) => top + v * scale;
  const x = (v: number) => FIGURE_W / 2 + (v - 100) * scale;
  const body = skirt
    ? `<path d="M${x(62)} ${y(180)} L${x(138)} ${y(180)} L${x(160)} ${y(330)} L${x(40)} ${y(330)} Z" fill="${coat}"/>`
    : `<rect x="${x(62)}" y="${y(180)}" width="${76 * scale}" height="${110 * scale}" rx="${18 * scale}" fill="${coat}"/>`;
  return [
    `<g>`,
    `<rect x="${x(72)}" y="${y(280)}" width="${22 * scale}" height="${120 * scale}" rx="8" fill="${legs}"/>`,
    `<rect x="${x(106)}" y="${y(280)}" width="${22 * scale}" height="${120 * scale}" rx="8" fill="${legs}"/>`,
    body,
    `<rect x="${x(42)}" y="${y(186)}" width="${20 * scale}" height="${90 * scale}" rx="9" fill="${coat}"/>`,
    `<rect x="${x(138)}" y="${y(186)}" width="${20 * scale}" height="${90 * scale}" rx="9" fill="${coat}"/>`,
    // DiceBear's own <svg> (it has a viewBox, no size) placed as the head.
    head.replace(
      /^<svg /,
      `<svg x="${x(20)}" y="${y(10)}" width="${160 * scale}" height="${180 * scale}" preserveAspectRatio="xMidYMax meet" `,
    ),
    `</g>`,
  ].join("");
}

/** Base colours of each animal, varied in lightness by the seed. */
const COAT: Record<Exclude<Species, "human">, [hue: number, sat: number, light: number]> = {
  fox: [24, 0.8, 0.5],
  rabbit: [30, 0.1, 0.85],
  tiger: [32, 0.85, 0.5],
  cat: [30, 0.3, 0.55],
  dog: [30, 0.45, 0.45],
  bird: [200, 0.6, 0.55],
  crow: [230, 0.15, 0.15],
  horse: [25, 0.45, 0.35],
  ox: [20, 0.35, 0.3],
  monkey: [28, 0.4, 0.35],
  dragon: [130, 0.55, 0.38],
  fish: [35, 0.9, 0.55],
  wolf: [210, 0.06, 0.5],
  bear: [25, 0.4, 0.25],
  mouse: [220, 0.05, 0.62],
  creature: [280, 0.35, 0.55],
};

/** What makes each species itself: ears, tail, stripes, horns, wings, fins. Coordinates on the 200 × 400 canvas. */
function speciesParts(
  species: Exclude<Species, "human">,
  fur: string,
  dark: string,
  light: string,
): [back: string, front: string] {
  switch (species) {
    case "fox":
      return [
        `<path d="M60 175 L72 120 L92 165 Z M140 175 L128 120 L108 165 Z" fill="${fur}"/><path d="M150 330 Q200 300 185 250 Q170 300 140 310 Z" fill="${fur}"/><circle cx="186" cy="252" r="10" fill="#fff"/>`,
        `<path d="M82 215 Q100 240 118 215 Q100 225 82 215 Z" fill="#fff"/>`,
      ];
    case "rabbit":
      return [
        `<ellipse cx="80" cy="110" rx="14" ry="55" fill="${fur}"/><ellipse cx="120" cy="110" rx="14" ry="55" fill="${fur}"/><ellipse cx="80" cy="112" rx="6" ry="40" fill="#f4b6c2"/><ellipse cx="120" cy="112" rx="6" ry="40" fill="#f4b6c2"/><circle cx="150" cy="335" r="16" fill="#fff"/>`,
        ``,
      ];
    case "tiger":
      return [
        `<circle cx="68" cy="160" r="16" fill="${fur}"/><circle cx="132" cy="160" r="16" fill="${fur}"/>`,
        `<path d="M70 260 L100 270 M65 290 L100 300 M70 320 L100 325 M130 260 L100 270 M135 290 L100 300 M130 320 L100 325 M85 168 L92 182 M115 168 L108 182" stroke="${dark}" stroke-width="7" stroke-linecap="round"/><path d="M150 340 Q195 330 190 280" stroke="${fur}" stroke-width="12" fill="none"/>`,
      ];
    case "cat":
      return [
        `<path d="M62 178 L70 135 L95 165 Z M138 178 L130 135 L105 165 Z" fill="${fur}"/><path d="M150 340 Q200 320 180 260" stroke="${fur}" stroke-width="10" fill="none" stroke-linecap="round"/>`,
        `<path d="M60 215 L85 212 M60 225 L85 220 M140 215 L115 212 M140 225 L115 220" stroke="${dark}" stroke-width="2"/>`,
      ];
    case "dog":
      return [
        `<ellipse cx="62" cy="195" rx="14" ry="32" fill="${dark}"/><ellipse cx="138" cy="195" rx="14" ry="32" fill="${dark}"/><path d="M150 320 Q185 300 175 270" stroke="${fur}" stroke-width="10" fill="none" stroke-linecap="round"/>`,
        ``,
      ];
    case "bird":
    case "crow":
      return [
        `<path d="M85 385 L80 400 M115 385 L120 400" stroke="#f0b030" stroke-width="5"/>`,
        `<path d="M55 270 Q20 300 50 340 Q70 320 70 280 Z M145 270 Q180 300 150 340 Q130 320 130 280 Z" fill="${dark}"/><path d="M92 210 L108 210 L100 232 Z" fill="#f0b030"/>`,
      ];
    case "horse":
      return [
        `<path d="M75 140 Q100 120 125 140 L100 150 Z" fill="${dark}"/>`,
        `<rect x="85" y="150" width="30" height="60" rx="12" fill="${dark}" opacity="0.8"/><path d="M150 300 Q190 330 170 380" stroke="${dark}" stroke-width="14" fill="none"/>`,
      ];
    case "ox":
      return [
        `<path d="M60 165 Q35 140 45 120 Q55 150 75 160 Z M140 165 Q165 140 155 120 Q145 150 125 160 Z" fill="#e8e0c8"/>`,
        `<ellipse cx="100" cy="222" rx="24" ry="14" fill="${light}"/>`,
      ];
    case "monkey":
      return [
        `<circle cx="58" cy="190" r="17" fill="${fur}"/><circle cx="142" cy="190" r="17" fill="${fur}"/>`,
        `<ellipse cx="100" cy="205" rx="32" ry="30" fill="#e8c8a0"/><path d="M150 340 Q200 330 190 270 Q185 250 170 255" stroke="${fur}" stroke-width="9" fill="none" stroke-linecap="round"/>`,
      ];
    case "dragon":
      return [
        `<path d="M70 160 L60 115 L85 150 Z M130 160 L140 115 L115 150 Z" fill="#f0d060"/>`,
        `<path d="M70 250 L80 240 L90 250 L100 240 L110 250 L120 240 L130 250" stroke="${light}" stroke-width="6" fill="none"/><path d="M150 340 Q200 320 195 260 L185 280 Z" fill="${fur}"/>`,
      ];
    case "fish":
      return [
        `<path d="M150 270 L195 235 L195 315 Z" fill="${dark}"/>`,
        `<path d="M80 240 Q100 200 120 240" stroke="${light}" stroke-width="6" fill="none"/>`,
      ];
    case "wolf":
      return [
        `<path d="M60 178 L68 118 L95 162 Z M140 178 L132 118 L105 162 Z" fill="${fur}"/><path d="M150 335 Q195 320 185 265 Q165 300 145 305 Z" fill="${dark}"/>`,
        `<path d="M82 215 Q100 238 118 215 Q100 224 82 215 Z" fill="${light}"/>`,
      ];
    case "bear":
      return [
        `<circle cx="62" cy="160" r="18" fill="${fur}"/><circle cx="138" cy="160" r="18" fill="${fur}"/>`,
        `<ellipse cx="100" cy="222" rx="22" ry="15" fill="${light}"/>`,
      ];
    case "mouse":
      return [
        `<circle cx="58" cy="155" r="28" fill="${fur}"/><circle cx="142" cy="155" r="28" fill="${fur}"/><circle cx="58" cy="155" r="16" fill="#f4b6c2"/><circle cx="142" cy="155" r="16" fill="#f4b6c2"/><path d="M150 350 Q200 360 190 300" stroke="#f4b6c2" stroke-width="4" fill="none"/>`,
        ``,
      ];
    default:
      return [`<path d="M75 165 L80 140 L90 162 Z M125 165 L120 140 L110 162 Z" fill="${dark}"/>`, ``];
  }
}

/** An animal's brows and mouth for a mood: a smile, a frown, knitted brows, an open mouth. */
function animalFace(mood: Mood | undefined, eyeY: number, mouthY: number): string {
  const line = (d: string) => `<path d="${d}" stroke="#2a1a14" stroke-width="3" fill="none" stroke-linecap="round"/>`;
  switch (mood) {
    case "happy":
      return line(`M88 ${mouthY} Q100 ${mouthY + 10} 112 ${mouthY}`);
    case "sad":
      return (
        line(`M88 ${mouthY + 6} Q100 ${mouthY - 3} 112 ${mouthY + 6}`) +
        line(`M76 ${eyeY - 14} L90 ${eyeY - 10} M124 ${eyeY - 14} L110 ${eyeY - 10}`)
      );
    case "tense":
    case "epic":
      return (
        line(`M76 ${eyeY - 10} L92 ${eyeY - 14} M124 ${eyeY - 10} L108 ${eyeY - 14}`) +
        `<ellipse cx="100" cy="${mouthY + 2}" rx="7" ry="5" fill="#5a1a1a"/>`
      );
    case "mysterious":
      return line(`M90 ${mouthY + 2} L110 ${mouthY}`);
    default:
      return line(`M92 ${mouthY} Q100 ${mouthY + 5} 108 ${mouthY}`);
  }
}

/** An animal standing upright as fable animals do: body, head, eyes, the parts its species has. */
function animalSvg(species: Exclude<Species, "human">, b: Buffer, mood: Mood | undefined): string {
  const [h, s, l] = COAT[species];
  const shade = ((b[0]! % 21) - 10) / 100;
  const fur = hsl(h + ((b[1]! % 11) - 5), s, Math.min(0.9, Math.max(0.1, l + shade)));
  const dark = hsl(h, s, Math.max(0.05, l - 0.22 + shade));
  const light = hsl(h, s * 0.5, Math.min(0.95, l + 0.3));
  const size = 0.85 + (b[2]! % 16) / 100;
  const fish = species === "fish";
  const bird = species === "bird" || species === "crow";
  const body = fish
    ? `<ellipse cx="100" cy="270" rx="62" ry="48" fill="${fur}"/>`
    : `<ellipse cx="100" cy="${bird ? 290 : 300}" rx="${bird ? 48 : 52}" ry="${bird ? 80 : 85}" fill="${fur}"/><ellipse cx="100" cy="310" rx="30" ry="55" fill="${light}" opacity="0.7"/>`;
  const head = fish ? "" : `<circle cx="100" cy="200" r="${bird ? 38 : 45}" fill="${fur}"/>`;
  const eyeY = fish ? 255 : 195;
  const eyes = `<circle cx="${fish ? 75 : 84}" cy="${eyeY}" r="7" fill="#fff"/><circle cx="${fish ? 75 : 84}" cy="${eyeY}" r="4" fill="#111"/>${fish ? "" : `<circle cx="116" cy="${eyeY}" r="7" fill="#fff"/><circle cx="116" cy="${eyeY}" r="4" fill="#111"/>`}`;
  const nose = fish || bird ? "" : `<ellipse cx="100" cy="215" rx="7" ry="5" fill="#2a1a14"/>`;
  const face = fish ? "" : animalFace(mood, eyeY, bird ? 236 : 228);
  const mark =
    b[3]! % 3 === 0 && !fish ? `<circle cx="${80 + (b[4]! % 40)}" cy="290" r="12" fill="${dark}" opacity="0.6"/>` : "";
  const [back, front] = speciesParts(species, fur, dark, light);
  return `<g transform="translate(${100 - 100 * size} ${FIGURE_H - FIGURE_H * size}) scale(${size})">${back}${body}${mark}${head}${front}${eyes}${nose}${face}</g>`;
}

/** The figure's SVG elements on the 200 × 400 canvas, to place in a larger picture. */
export function figureBody(spec: FigureSpec): string {
  const b = bytesOf(`${spec.species}:${spec.seed}`);
  return spec.species === "human" ? personSvg(spec, b) : animalSvg(spec.species, b, spec.mood);
}

/** The figure as SVG on the 200 × 400 canvas (transparent background). */
export function figureSvg(spec: FigureSpec): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${FIGURE_W}" height="${FIGURE_H}" viewBox="0 0 ${FIGURE_W} ${FIGURE_H}">${figureBody(spec)}</svg>`;
}

/**
 * Where the figure's mouth is on the 200 × 400 canvas: its centre and width. DiceBear draws each
 * style's mouth at one place of its head, which personSvg puts at a fixed box (a child's is
 * smaller); an animal's is where animalSvg draws it, moved by its size.
 */
export function mouthAnchor(spec: Pick<FigureSpec, "seed" | "species" | "age" | "style">): {
  cx: number;
  cy: number;
  w: number;
} {
  if (spec.species === "human") {
    const [cx, cy, w] = PEOPLE_MOUTHS[spec.style];
    const scale = spec.age === "child" ? 0.78 : 1;
    return { cx: FIGURE_W / 2 + (cx - 100) * scale, cy: FIGURE_H * (1 - scale) + cy * scale, w: w * scale };
  }
  const b = bytesOf(`${spec.species}:${spec.seed}`);
  const size = 0.85 + (b[2]! % 16) / 100;
  const bird = spec.species === "bird" || spec.species === "crow";
  // A fish has no mouth of its own in the drawing: it speaks from the front of its body.
  const [cx, cy, w] = spec.species === "fish" ? [70, 280, 18] : [100, bird ? 238 : 231, bird ? 14 : 18];
  return { cx: 100 - 100 * size + cx * size, cy: FIGURE_H - FIGURE_H * size + cy * size, w: w * size };
}

/** Each DiceBear style's mouth on the canvas at adult size: centre x, centre y, width (measured on its drawings). */
const PEOPLE_MOUTHS: Record<PeopleStyle, [number, number, number]> = {
  openPeeps: [121, 138, 22],
  notionists: [102, 119, 14],
  lorelei: [111, 128, 16],
  adventurer: [98, 139, 17],
};

/**
 * The open mouth of a talking figure drawn `heightPx` tall, as a small PNG and where its top-left
 * corner goes on the figure's PNG: laid over the figure's own mouth while it speaks, and taken off
 * between words, so the mouth opens and closes without redrawing the figure.
 */
export function openMouthPng(spec: FigureSpec, heightPx: number): { png: Uint8Array; x: number; y: number } {
  const box = openMouthBox(spec, heightPx);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${box.w}" height="${box.h}" viewBox="0 0 100 80" preserveAspectRatio="none"><ellipse cx="50" cy="40" rx="46" ry="36" fill="#5a1518" stroke="#24100c" stroke-width="8"/><ellipse cx="50" cy="58" rx="26" ry="14" fill="#e0707a"/><rect x="26" y="8" width="48" height="12" rx="4" fill="#fbfbf6"/></svg>`;
  const png = new Resvg(svg, { font: { loadSystemFonts: false } }).render().asPng();
  return { png: new Uint8Array(png), x: box.x, y: box.y };
}

/** Where the open mouth goes on the figure's PNG drawn `heightPx` tall, and its size. */
export function openMouthBox(spec: FigureSpec, heightPx: number): { x: number; y: number; w: number; h: number } {
  const k = Math.max(16, Math.round(heightPx)) / FIGURE_H;
  const a = mouthAnchor(spec);
  const w = Math.max(4, Math.round(a.w * k * 1.1));
  const h = Math.max(4, Math.round(a.w * k * 0.8));
  return { x: Math.round(a.cx * k - w / 2), y: Math.round(a.cy * k - h / 2), w, h };
}

/** The figure as a PNG `heightPx` tall: the same spec and size always give the same bytes. */
export function figurePng(spec: FigureSpec, heightPx: number): Uint8Array {
  const png = new Resvg(figureSvg(spec), {
    fitTo: { mode: "height", value: Math.max(16, Math.round(heightPx)) },
    font: { loadSystemFonts: false },
  })
    .render()
    .asPng();
  return new Uint8Array(png);
}
