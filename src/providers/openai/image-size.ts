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

/** Width and height from a PNG's IHDR chunk, a JPEG's SOF marker or a WebP header, if found. */
export function imageDimensions(bytes: Uint8Array): { width: number; height: number } | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= 24 && isPng(bytes)) return { width: view.getUint32(16), height: view.getUint32(20) };
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    let i = 2;
    while (i + 9 < bytes.length) {
      if (bytes[i] !== 0xff) return undefined;
      const marker = bytes[i + 1]!;
      const length = view.getUint16(i + 2);
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { width: view.getUint16(i + 7), height: view.getUint16(i + 5) };
      }
      i += 2 + length;
    }
  }
  return undefined;
}

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
export const isPng = (b: Uint8Array) => PNG.every((v, i) => b[i] === v);

export function mimeTypeOf(b: Uint8Array): "image/png" | "image/jpeg" | "image/webp" | undefined {
  if (isPng(b)) return "image/png";
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
  if (String.fromCharCode(...b.subarray(0, 4)) === "RIFF" && String.fromCharCode(...b.subarray(8, 12)) === "WEBP")
    return "image/webp";
  return undefined;
}
