/** The sizes each OpenAI image model draws, and the one nearest a requested width and height. */

const GPT_IMAGE = ["1024x1024", "1536x1024", "1024x1536"];
const DALL_E_3 = ["1024x1024", "1792x1024", "1024x1792"];
const DALL_E_2 = ["256x256", "512x512", "1024x1024"];

export function sizesFor(model: string): string[] {
  if (model.startsWith("dall-e-3")) return DALL_E_3;
  if (model.startsWith("dall-e-2")) return DALL_E_2;
  return GPT_IMAGE;
}

const parse = (size: string) => {
  const [w, h] = size.split("x").map(Number);
  return { width: w!, height: h! };
};

/** The supported size closest in aspect ratio, then in area; `exact` when it is the requested one. */
export function nearestSize(
  width: number,
  height: number,
  sizes: string[],
): { size: string; width: number; height: number; exact: boolean } {
  if (!(width > 0 && height > 0)) throw new RangeError(`the image size must be positive, not ${width}x${height}`);
  const ratio = Math.log(width / height);
  const area = Math.log(width * height);
  let best = sizes[0]!;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const size of sizes) {
    const s = parse(size);
    // Aspect ratio first: a cropped-to-fit picture loses less than a distorted one.
    const score = Math.abs(Math.log(s.width / s.height) - ratio) * 1000 + Math.abs(Math.log(s.width * s.height) - area);
    if (score < bestScore) {
      best = size;
      bestScore = score;
    }
  }
  const s = parse(best);
  return { size: best, ...s, exact: s.width === width && s.height === height };
}
