import type { EditConfig, FilterName } from "../story/edit.ts";

const r = (n: number) => Number(n.toFixed(4));

/** A colour look at intensity i (0..1), from filters present in every ffmpeg since 4.0. */
function look(name: FilterName, i: number): string[] {
  const mix = (m: number[]) => {
    // Blend the look's channel matrix with the identity by intensity.
    const id = [1, 0, 0, 0, 1, 0, 0, 0, 1];
    const v = m.map((x, k) => r(id[k]! * (1 - i) + x * i));
    return `colorchannelmixer=rr=${v[0]}:rg=${v[1]}:rb=${v[2]}:gr=${v[3]}:gg=${v[4]}:gb=${v[5]}:br=${v[6]}:bg=${v[7]}:bb=${v[8]}`;
  };
  switch (name) {
    case "none":
      return [];
    case "grayscale":
      return [`hue=s=${r(1 - i)}`];
    case "sepia":
      return [mix([0.393, 0.769, 0.189, 0.349, 0.686, 0.168, 0.272, 0.534, 0.131])];
    case "warm":
      return [`colorbalance=rs=${r(0.15 * i)}:gs=${r(0.04 * i)}:bs=${r(-0.15 * i)}:rm=${r(0.1 * i)}:bm=${r(-0.1 * i)}`];
    case "cool":
      return [`colorbalance=rs=${r(-0.12 * i)}:bs=${r(0.15 * i)}:rm=${r(-0.08 * i)}:bm=${r(0.1 * i)}`];
    case "vivid":
      return [`eq=saturation=${r(1 + 0.7 * i)}:contrast=${r(1 + 0.12 * i)}`];
    case "fade":
      return [`eq=saturation=${r(1 - 0.35 * i)}:contrast=${r(1 - 0.25 * i)}:brightness=${r(0.06 * i)}`];
    case "noir":
      return [`hue=s=${r(1 - i)}`, `eq=contrast=${r(1 + 0.45 * i)}:brightness=${r(-0.04 * i)}`];
  }
}

/**
 * Filters that turn a source picture into the W×H frame the edit asks for: crop the source,
 * rotate (scaled up so no corner shows), cover the frame at the zoom, move by the pan, colour look.
 */
export function editFilters(edit: EditConfig | null | undefined, W: number, H: number): string[] {
  const e = edit ?? {};
  const out: string[] = [];
  if (e.crop) out.push(`crop=w=iw*${r(e.crop.w)}:h=ih*${r(e.crop.h)}:x=iw*${r(e.crop.x)}:y=ih*${r(e.crop.y)}`);
  const zoom = e.zoom ?? 1;
  const angle = e.rotation ?? 0;
  let grow = 1;
  if (angle) {
    const a = (Math.abs(angle) * Math.PI) / 180;
    // A W×H frame rotated by a needs this much more picture to stay filled.
    const cos = Math.abs(Math.cos(a));
    const sin = Math.abs(Math.sin(a));
    grow = Math.max(cos + (sin * H) / W, cos + (sin * W) / H);
  }
  const sw = Math.ceil((W * zoom * grow) / 2) * 2;
  const sh = Math.ceil((H * zoom * grow) / 2) * 2;
  out.push(`scale=${sw}:${sh}:force_original_aspect_ratio=increase:flags=bicubic`);
  if (angle) out.push(`rotate=${r((angle * Math.PI) / 180)}:ow=iw:oh=ih:c=black`);
  const px = e.pan?.x ?? 0;
  const py = e.pan?.y ?? 0;
  out.push(`crop=${W}:${H}:(iw-${W})/2*${r(1 + px)}:(ih-${H})/2*${r(1 + py)}`);
  if (e.filter) out.push(...look(e.filter.name, e.filter.intensity));
  out.push("setsar=1", "format=yuv420p");
  return out;
}
