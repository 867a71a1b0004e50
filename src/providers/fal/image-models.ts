/**
 * fal image endpoints and how a generation maps onto each one's input (field names as documented
 * on fal.ai's model pages and in @fal-ai/client's endpoint types): FLUX [dev]/[schnell] draw from
 * text with an `image_size`; FLUX Kontext edits one reference (`image_url`) or several
 * (`…/multi`, `image_urls`) with an `aspect_ratio`.
 */
export interface ImageCall {
  prompt: string;
  width: number;
  height: number;
  seed?: number;
  /** Uploaded reference URLs (reference endpoints only). */
  imageUrls: string[];
}

export interface ImageEndpoint {
  kind: "text" | "reference";
  /** At most this many references (1 for Kontext; the multi variant takes more). */
  maxReferences: number;
  /** The endpoint for more than `maxReferences` references. */
  multi?: string;
  input(c: ImageCall): Record<string, unknown>;
}

const PRESETS: Array<[ratio: number, name: string]> = [
  [16 / 9, "landscape_16_9"],
  [9 / 16, "portrait_16_9"],
  [1, "square_hd"],
  [4 / 3, "landscape_4_3"],
  [3 / 4, "portrait_4_3"],
];

/** FLUX's `image_size`: a named preset when the ratio is exactly one, else `{width, height}`. */
export function imageSize(width: number, height: number): string | { width: number; height: number } {
  const hit = PRESETS.find(([r]) => Math.abs(width / height - r) < 1e-3);
  return hit ? hit[1] : { width, height };
}

const KONTEXT_RATIOS = ["21:9", "16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "9:21"];

/** The allowed "w:h" nearest to width/height (by log ratio). */
export function nearestRatio(width: number, height: number, allowed: string[]): string {
  const target = Math.log(width / height);
  const score = (r: string) => {
    const [w, h] = r.split(":").map(Number);
    return Math.abs(Math.log(w! / h!) - target);
  };
  return allowed.reduce((best, r) => (score(r) < score(best) ? r : best));
}

const defined = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

const flux: ImageEndpoint = {
  kind: "text",
  maxReferences: 0,
  input: (c) =>
    defined({
      prompt: c.prompt,
      image_size: imageSize(c.width, c.height),
      num_images: 1,
      output_format: "png",
      enable_safety_checker: true,
      seed: c.seed,
    }),
};

const kontext = (multi?: string): ImageEndpoint => ({
  kind: "reference",
  maxReferences: multi ? 1 : 4,
  multi,
  input: (c) =>
    defined({
      prompt: c.prompt,
      ...(multi ? { image_url: c.imageUrls[0] } : { image_urls: c.imageUrls }),
      aspect_ratio: nearestRatio(c.width, c.height, KONTEXT_RATIOS),
      num_images: 1,
      output_format: "png",
      seed: c.seed,
    }),
});

export const IMAGE_ENDPOINTS: Record<string, ImageEndpoint> = {
  "fal-ai/flux/dev": flux,
  "fal-ai/flux/schnell": flux,
  "fal-ai/flux-pro/kontext": kontext("fal-ai/flux-pro/kontext/multi"),
  "fal-ai/flux-pro/kontext/multi": kontext(),
  "fal-ai/flux-pro/kontext/max": kontext("fal-ai/flux-pro/kontext/max/multi"),
  "fal-ai/flux-pro/kontext/max/multi": kontext(),
};

export function imageEndpoint(id: string, kind: ImageEndpoint["kind"]): ImageEndpoint {
  const e = IMAGE_ENDPOINTS[id];
  const known = Object.entries(IMAGE_ENDPOINTS)
    .filter(([, v]) => v.kind === kind)
    .map(([k]) => k);
  if (!e || e.kind !== kind)
    throw new RangeError(
      `fal image model ${id} is not a known ${kind === "text" ? "text-to-image" : "reference (image-to-image)"} model; known: ${known.join(", ")}`,
    );
  return e;
}

/** Kontext edits the reference; the prompt says what to keep and what to draw. */
export function referencePrompt(prompt: string, count: number, labels: string[]): string {
  const who = labels.length ? ` (${labels.join(", ")})` : "";
  const n = count > 1 ? "characters from the reference images" : "character from the reference image";
  return `Keep the ${n}${who} exactly as drawn — same face, clothes and colours — in this new picture: ${prompt}`;
}
