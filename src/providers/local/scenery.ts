/**
 * The offline painter's backgrounds: a procedural SVG per class of location (street, shop or tea
 * house, home, palace hall, forest, mountain, river or lake, field, classroom, office), lit by the
 * time of day (dawn, day, dusk, night with moon, stars and lit windows) and the weather (rain, snow,
 * fog), in layers — sky or wall, far, near, floor — varied by the location's name. Rendered by resvg.
 */
import { createHash } from "node:crypto";
import { Resvg } from "@resvg/resvg-js";
import type { TimeOfDay } from "../../story/schemas.ts";
import type { Weather } from "../../story/weather.ts";

export type LocationClass =
  | "street"
  | "shop"
  | "home"
  | "palace"
  | "forest"
  | "mountain"
  | "water"
  | "field"
  | "classroom"
  | "office"
  | "studio";

const CLASSES: Array<[LocationClass, RegExp]> = [
  ["studio", /^studio$/i],
  ["classroom", /教室|学校|课堂|classroom|school/i],
  ["office", /办公|公司|会议室|office|meeting room/i],
  ["palace", /宫|殿|朝堂|王座|palace|throne|castle|hall of/i],
  ["shop", /茶馆|茶楼|店|铺|馆|酒楼|客栈|餐厅|咖啡|shop|store|inn|tavern|cafe|café|teahouse|bar|restaurant/i],
  ["home", /家|房|屋|室|厅|卧|厨|home|house|room|kitchen|bedroom|cottage|hut|cellar/i],
  ["forest", /林|森|树|竹|forest|wood|trees|jungle|grove/i],
  ["mountain", /山|峰|岭|崖|mountain|hill|cliff|peak/i],
  [
    "water",
    /河|江|湖|海|溪|井|岸|码头|桥|river|lake|sea|shore|stream|pond|harbour|harbor|bridge|well|beach|lighthouse/i,
  ],
  ["field", /田|野|草地|原|农场|field|meadow|farm|plain|garden/i],
  ["street", /街|路|巷|城|镇|村|市|street|road|lane|town|city|village|market|square/i],
];

/** Which kind of place a location is (open country when nothing matches). */
export function locationClass(location: string): LocationClass {
  return CLASSES.find(([, re]) => re.test(location))?.[0] ?? "field";
}

const INTERIOR: ReadonlySet<LocationClass> = new Set(["shop", "home", "palace", "classroom", "office", "studio"]);

const SKY: Record<TimeOfDay, [top: string, bottom: string]> = {
  dawn: ["#6d7fb8", "#f2b48a"],
  day: ["#5d9be0", "#bfe0f7"],
  dusk: ["#3b2a5a", "#e0775a"],
  night: ["#0b1230", "#243466"],
};
/** How much light a time of day leaves on things (multiplies the near layers' lightness). */
const LIGHT: Record<TimeOfDay, number> = { dawn: 0.85, day: 1, dusk: 0.7, night: 0.42 };

function shade(hex: string, k: number): string {
  const n = Number.parseInt(hex.slice(1), 16);
  const c = (v: number) =>
    Math.max(0, Math.min(255, Math.round(v * k)))
      .toString(16)
      .padStart(2, "0");
  return `#${c((n >> 16) & 255)}${c((n >> 8) & 255)}${c(n & 255)}`;
}

export interface SceneSpec {
  width: number;
  height: number;
  location: string;
  timeOfDay: TimeOfDay;
  weather?: Weather;
  /** The floor line, as a fraction of the height: where the characters stand. */
  floor: number;
}

/**
 * The background's layers, back to front, each the SVG body of a `width` × `height` picture:
 * the sky (or an interior's wall, with its windows), the far layer (hills, a skyline, a hall's
 * columns), the near layer (the floor and what stands on it: trees, lamps, a counter, water) and
 * the weather. Only the sky is opaque: a painter can move the layers apart for depth.
 */
export interface SceneLayers {
  sky: string;
  far: string;
  near: string;
  /** Rain, snow or fog over everything but the characters; empty in clear weather. */
  weather: string;
}

const doc = (W: number, H: number, body: string) =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${body}</svg>`;

/** The background as one SVG, `width` × `height`: its layers flattened. */
export function sceneSvg(spec: SceneSpec): string {
  const l = sceneLayers(spec);
  return doc(spec.width, spec.height, l.sky + l.far + l.near + l.weather);
}

/** A layer as an SVG document of the scene's size (`heightPx` overrides its height: a tall weather tile). */
export const layerSvg = (spec: Pick<SceneSpec, "width" | "height">, body: string, heightPx = spec.height) =>
  doc(spec.width, heightPx, body);

/** The weather's SVG body repeated `copies` times downwards, so a layer `copies` × the height tall scrolls seamlessly. */
export function weatherTile(spec: SceneSpec, copies: number): string {
  const body = weatherBody(spec);
  if (!body) return "";
  return Array.from({ length: copies }, (_, i) => `<g transform="translate(0 ${i * spec.height})">${body}</g>`).join(
    "",
  );
}

function weatherBody(spec: SceneSpec): string {
  const { width: W, height: H } = spec;
  const b = createHash("sha256").update(spec.location).digest();
  const r = (i: number, lo: number, hi: number) => lo + (b[i % b.length]! / 255) * (hi - lo);
  const parts: string[] = [];
  const w = spec.weather ?? "clear";
  if (w === "rain")
    for (let i = 0; i < 90; i++) {
      const x = (r(i, 0, 1) * W + i * 37) % W;
      const y = (r(i + 5, 0, 1) * H + i * 53) % H;
      parts.push(
        `<line x1="${x}" y1="${y}" x2="${x - H * 0.015}" y2="${y + H * 0.05}" stroke="#c8d8f0" stroke-width="1.5" opacity="0.6"/>`,
      );
    }
  if (w === "snow")
    for (let i = 0; i < 80; i++)
      parts.push(
        `<circle cx="${(r(i, 0, 1) * W + i * 41) % W}" cy="${(r(i + 3, 0, 1) * H + i * 29) % H}" r="${1.5 + (b[i % 32]! % 3)}" fill="#ffffff" opacity="0.85"/>`,
      );
  if (w === "fog") parts.push(`<rect width="${W}" height="${H}" fill="#dfe4ea" opacity="0.45"/>`);
  return parts.join("");
}

/** The background's layers (see SceneLayers). */
export function sceneLayers(spec: SceneSpec): SceneLayers {
  const { width: W, height: H, timeOfDay: t } = spec;
  const b = createHash("sha256").update(spec.location).digest();
  const r = (i: number, lo: number, hi: number) => lo + (b[i % b.length]! / 255) * (hi - lo);
  const cls = locationClass(spec.location);
  const light = LIGHT[t];
  const ground = Math.round(H * spec.floor);
  const night = t === "night";
  const defs = `<defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${SKY[t][0]}"/><stop offset="1" stop-color="${SKY[t][1]}"/></linearGradient></defs>`;
  const sky: string[] = [defs];
  const far: string[] = [];
  const near: string[] = [];
  const windowGlow = night ? "#ffd77a" : SKY[t][1];

  if (INTERIOR.has(cls)) {
    const wall = shade(
      cls === "palace"
        ? "#a8322d"
        : cls === "shop"
          ? "#8a5a34"
          : cls === "classroom"
            ? "#d9d2b8"
            : cls === "office"
              ? "#c9ccd2"
              : cls === "studio"
                ? "#e6e6e6"
                : "#c8a982",
      light,
    );
    sky.push(`<rect width="${W}" height="${ground}" fill="${wall}"/>`);
    if (cls !== "studio") {
      // Windows onto the sky: lit at night from inside.
      const n = 2 + (b[0]! % 2);
      const panes: string[] = [];
      for (let i = 0; i < n; i++) {
        const wx = W * (0.12 + (i * 0.76) / n);
        panes.push(`<rect x="${wx}" y="${H * 0.12}" width="${W * 0.14}" height="${H * 0.22}"/>`);
        sky.push(
          `<rect x="${wx}" y="${H * 0.12}" width="${W * 0.14}" height="${H * 0.22}" fill="${night ? windowGlow : "url(#sky)"}" stroke="${shade(wall, 0.6)}" stroke-width="${H * 0.012}"/>`,
        );
      }
      // Indoors the weather is seen through the windows only.
      const outside = weatherBody(spec);
      if (outside)
        sky.push(`<clipPath id="panes">${panes.join("")}</clipPath><g clip-path="url(#panes)">${outside}</g>`);
      for (let i = 0; i < n; i++) {
        const wx = W * (0.12 + (i * 0.76) / n);
        sky.push(
          `<line x1="${wx + W * 0.07}" y1="${H * 0.12}" x2="${wx + W * 0.07}" y2="${H * 0.34}" stroke="${shade(wall, 0.6)}" stroke-width="${H * 0.008}"/>`,
        );
      }
    }
    if (cls === "palace")
      for (let i = 0; i < 4; i++)
        far.push(
          `<rect x="${W * (0.05 + i * 0.3)}" y="0" width="${W * 0.05}" height="${ground}" fill="${shade("#7a1f1b", light)}"/>`,
        );
    if (cls === "shop")
      near.push(
        `<rect x="${W * 0.55}" y="${ground - H * 0.16}" width="${W * 0.4}" height="${H * 0.16}" fill="${shade("#5a3a20", light)}"/>`,
        ...Array.from(
          { length: 3 },
          (_, i) =>
            `<circle cx="${W * (0.25 + i * 0.25)}" cy="${H * 0.06}" r="${H * 0.035}" fill="${night ? "#ff5a3a" : "#d9483a"}"/>`,
        ),
      );
    if (cls === "classroom")
      sky.push(
        `<rect x="${W * 0.3}" y="${H * 0.1}" width="${W * 0.4}" height="${H * 0.25}" fill="${shade("#2f5a3a", light)}" stroke="#8a6a3a" stroke-width="${H * 0.01}"/>`,
      );
    if (cls === "office")
      near.push(
        `<rect x="${W * 0.08}" y="${ground - H * 0.12}" width="${W * 0.3}" height="${H * 0.12}" fill="${shade("#6a6f78", light)}"/>`,
      );
    const floor = shade(
      cls === "palace"
        ? "#6b4a2a"
        : cls === "office" || cls === "classroom"
          ? "#8c8f96"
          : cls === "studio"
            ? "#cfcfcf"
            : "#7a5230",
      light,
    );
    near.push(`<rect y="${ground}" width="${W}" height="${H - ground}" fill="${floor}"/>`);
    for (let i = 1; i < 6; i++)
      near.push(
        `<line x1="0" y1="${ground + ((H - ground) * i) / 6}" x2="${W}" y2="${ground + ((H - ground) * i) / 6}" stroke="${shade(floor, 0.85)}" stroke-width="2"/>`,
      );
  } else {
    sky.push(`<rect width="${W}" height="${ground}" fill="url(#sky)"/>`);
    // Sky: the sun by day, a moon and stars by night.
    if (night) {
      for (let i = 0; i < 24; i++)
        sky.push(
          `<circle cx="${r(i, 0, W)}" cy="${r(i + 7, 0, ground * 0.6)}" r="${H * 0.003 + (b[i]! % 3)}" fill="#fffbe0" opacity="0.8"/>`,
        );
      sky.push(
        `<circle cx="${W * 0.82}" cy="${H * 0.14}" r="${H * 0.05}" fill="#f5f1d0"/>`,
        `<circle cx="${W * 0.835}" cy="${H * 0.13}" r="${H * 0.045}" fill="${SKY.night[0]}"/>`,
      );
    } else {
      const sunY = t === "day" ? 0.12 : 0.38;
      sky.push(
        `<circle cx="${W * r(1, 0.65, 0.88)}" cy="${H * sunY}" r="${H * 0.06}" fill="${t === "day" ? "#fff3b0" : "#ffb070"}"/>`,
      );
    }
    // Far layer: hills or a skyline.
    const farColour = shade(cls === "street" ? "#5a6070" : "#6f8f7a", light * 0.9);
    if (cls === "street") {
      let x = 0;
      for (let i = 0; x < W; i++) {
        const w = W * r(i, 0.06, 0.12);
        const h = H * r(i + 3, 0.2, 0.42);
        far.push(`<rect x="${x}" y="${ground - h}" width="${w}" height="${h}" fill="${farColour}"/>`);
        for (let k = 0; k < 4; k++)
          if (night ? b[(i + k) % 32]! % 3 !== 0 : false)
            far.push(
              `<rect x="${x + w * 0.2 + (k % 2) * w * 0.35}" y="${ground - h + h * (0.15 + Math.floor(k / 2) * 0.3)}" width="${w * 0.22}" height="${h * 0.12}" fill="${windowGlow}"/>`,
            );
        x += w + W * 0.01;
      }
    } else {
      const peaks = cls === "mountain" ? 0.55 : 0.25;
      const pts = Array.from({ length: 7 }, (_, i) => `${(W * i) / 6},${ground - H * r(i, peaks * 0.4, peaks)}`).join(
        " ",
      );
      far.push(`<polygon points="0,${ground} ${pts} ${W},${ground}" fill="${farColour}"/>`);
      if (cls === "mountain" && t !== "night")
        far.push(
          `<polygon points="${W * 0.45},${ground - H * peaks * 0.95} ${W * 0.4},${ground - H * peaks * 0.75} ${W * 0.5},${ground - H * peaks * 0.75}" fill="#f4f4f4"/>`,
        );
    }
    // Floor: street paving, water with a bank, grass or field rows.
    const floor = shade(
      cls === "street" ? "#6e6a66" : cls === "water" ? "#8a7a5a" : cls === "field" ? "#9ab04a" : "#4f7a3a",
      light,
    );
    near.push(`<rect y="${ground}" width="${W}" height="${H - ground}" fill="${floor}"/>`);
    if (cls === "water")
      near.push(
        `<rect y="${ground - H * 0.08}" width="${W}" height="${H * 0.08}" fill="${shade("#3a7ab0", light)}"/>`,
        ...Array.from(
          { length: 6 },
          (_, i) =>
            `<line x1="${r(i, 0, W * 0.8)}" y1="${ground - H * r(i + 2, 0.01, 0.07)}" x2="${r(i, 0, W * 0.8) + W * 0.08}" y2="${ground - H * r(i + 2, 0.01, 0.07)}" stroke="${shade("#cfe6f5", light)}" stroke-width="2"/>`,
        ),
      );
    if (cls === "field")
      for (let i = 1; i < 5; i++)
        near.push(
          `<line x1="0" y1="${ground + ((H - ground) * i) / 5}" x2="${W}" y2="${ground + ((H - ground) * i) / 5 - H * 0.05}" stroke="${shade(floor, 0.8)}" stroke-width="3"/>`,
        );
    // Near layer: trees in a forest (and a few elsewhere in the country), lamps on a street.
    const trees = cls === "forest" ? 7 : cls === "field" || cls === "mountain" || cls === "water" ? 2 : 0;
    for (let i = 0; i < trees; i++) {
      const x = W * r(i + 11, 0, 1);
      const h = H * r(i + 13, 0.25, 0.45);
      near.push(
        `<rect x="${x - H * 0.012}" y="${ground - h * 0.4}" width="${H * 0.024}" height="${h * 0.4 + H * 0.02}" fill="${shade("#5a3a22", light)}"/>`,
        `<ellipse cx="${x}" cy="${ground - h * 0.6}" rx="${h * 0.28}" ry="${h * 0.38}" fill="${shade(b[i]! % 2 ? "#2f6b34" : "#3f7f3a", light)}"/>`,
      );
    }
    if (cls === "street")
      for (let i = 0; i < 2; i++) {
        const x = W * (0.2 + i * 0.6);
        near.push(
          `<rect x="${x}" y="${ground - H * 0.3}" width="${H * 0.01}" height="${H * 0.3}" fill="#2a2a2a"/>`,
          `<circle cx="${x + H * 0.005}" cy="${ground - H * 0.3}" r="${H * 0.018}" fill="${night ? "#ffe08a" : "#dddddd"}"/>`,
        );
      }
  }
  return {
    sky: sky.join(""),
    far: far.join(""),
    near: near.join(""),
    weather: INTERIOR.has(cls) ? "" : weatherBody(spec),
  };
}

/** The background as PNG. */
export function scenePng(spec: SceneSpec): Uint8Array {
  return new Uint8Array(new Resvg(sceneSvg(spec), { font: { loadSystemFonts: false } }).render().asPng());
}
