import { FILTERS } from "../story/edit.ts";
import { TRANSITIONS } from "../story/schemas.ts";
import { ComposeError } from "./compose-error.ts";
import { knownFont } from "./fonts.ts";
import { ASPECT_RATIOS, FRAME_RATES, RESOLUTIONS, type Timeline, type TimelineShot } from "./timeline.ts";

const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const within = (v: unknown, lo: number, hi: number) => finite(v) && v >= lo && v <= hi;
const COLOUR = /^#[0-9a-fA-F]{6}$/;

function checkShot(shot: TimelineShot, i: number, seen: Set<string>) {
  if (typeof shot.id !== "string" || !/^[\w.-]{1,64}$/.test(shot.id))
    throw new ComposeError(`shot ${i + 1} needs an id of 1 to 64 letters, digits, "_", "-" or "."`);
  const fail = (problem: string) => new ComposeError(problem, shot.id);
  if (seen.has(shot.id)) throw fail("the id is used by another shot");
  seen.add(shot.id);
  if (!finite(shot.durationS) || shot.durationS <= 0)
    throw fail(`the duration must be a positive number of seconds, not ${shot.durationS}`);
  if (shot.durationS > 600) throw fail("a shot lasts at most 600 seconds");
  if (
    !shot.visual ||
    (shot.visual.kind !== "still" && shot.visual.kind !== "clip") ||
    typeof shot.visual.path !== "string"
  ) {
    throw fail('the visual must be {kind: "still" | "clip", path}');
  }
  if (shot.transition !== undefined && !(TRANSITIONS as readonly string[]).includes(shot.transition)) {
    throw fail(`unknown transition "${shot.transition}" (one of ${TRANSITIONS.join(", ")})`);
  }
  if (shot.transitionS !== undefined && !within(shot.transitionS, 0.1, Math.min(3, shot.durationS))) {
    throw fail("the transition lasts 0.1 to 3 seconds and no longer than the shot");
  }
  const e = shot.edit;
  if (e) {
    if (
      e.crop &&
      !(
        within(e.crop.x, 0, 1) &&
        within(e.crop.y, 0, 1) &&
        within(e.crop.w, 0.05, 1) &&
        within(e.crop.h, 0.05, 1) &&
        e.crop.x + e.crop.w <= 1.0001 &&
        e.crop.y + e.crop.h <= 1.0001
      )
    ) {
      throw fail("crop must be fractions x, y, w, h of the picture with w and h at least 0.05, inside the picture");
    }
    if (e.zoom !== undefined && !within(e.zoom, 1, 4)) throw fail("zoom must be between 1 and 4");
    if (e.pan !== undefined && !(within(e.pan.x, -1, 1) && within(e.pan.y, -1, 1)))
      throw fail("pan x and y must be between -1 and 1");
    if (e.rotation !== undefined && !within(e.rotation, -180, 180))
      throw fail("rotation must be between -180 and 180 degrees");
    if (e.filter && !((FILTERS as readonly string[]).includes(e.filter.name) && within(e.filter.intensity, 0, 1))) {
      throw fail(`filter must be one of ${FILTERS.join(", ")} with an intensity from 0 to 1`);
    }
  }
  (shot.audio ?? []).forEach((a, j) => {
    if (typeof a.path !== "string") throw fail(`audio line ${j + 1} has no file`);
    if (!finite(a.offsetS) || a.offsetS < 0 || a.offsetS >= shot.durationS)
      throw fail(`audio line ${j + 1} must start within the shot (0 to ${shot.durationS} s)`);
    if (a.volume !== undefined && !within(a.volume, 0, 2))
      throw fail(`audio line ${j + 1}: volume must be between 0 and 2`);
    for (const t of a.timings ?? []) {
      if (!(finite(t.startS) && finite(t.endS) && t.startS >= 0 && t.endS > t.startS))
        throw fail(`audio line ${j + 1} has a timing that ends before it starts`);
    }
  });
}

/** Checks everything about a timeline that needs no file: a clear error naming the shot, or nothing. */
export function checkTimeline(t: Timeline): void {
  const o = t.output;
  if (!o || !Object.hasOwn(RESOLUTIONS, o.resolution))
    throw new ComposeError(`resolution must be one of ${Object.keys(RESOLUTIONS).join(", ")}`);
  if (!Object.hasOwn(ASPECT_RATIOS, o.aspectRatio))
    throw new ComposeError(`aspect ratio must be one of ${Object.keys(ASPECT_RATIOS).join(", ")}`);
  if (!(FRAME_RATES as readonly number[]).includes(o.fps))
    throw new ComposeError(`fps must be one of ${FRAME_RATES.join(", ")}`);
  if (o.format !== "mp4" && o.format !== "mov") throw new ComposeError('format must be "mp4" or "mov"');
  if (o.size !== undefined) {
    const side = (n: unknown) =>
      Number.isInteger(n) && (n as number) >= 128 && (n as number) <= 7680 && (n as number) % 2 === 0;
    if (!side(o.size.width) || !side(o.size.height))
      throw new ComposeError("the frame's width and height must be even numbers of pixels from 128 to 7680");
  }
  if (!Array.isArray(t.shots) || t.shots.length === 0) throw new ComposeError("the timeline has no shots");
  if (t.shots.length > 2000) throw new ComposeError("a timeline holds at most 2000 shots");
  const seen = new Set<string>();
  t.shots.forEach((s, i) => {
    checkShot(s, i, seen);
  });
  if (t.bgm) {
    if (typeof t.bgm.path !== "string") throw new ComposeError("background music has no file");
    if (t.bgm.volume !== undefined && !within(t.bgm.volume, 0, 1))
      throw new ComposeError("background music volume must be between 0 and 1");
    for (const k of ["fadeInS", "fadeOutS"] as const) {
      if (t.bgm[k] !== undefined && !within(t.bgm[k], 0, 30))
        throw new ComposeError(`background music ${k} must be between 0 and 30 seconds`);
    }
  }
  const style = t.subtitles?.style;
  if (style) {
    if (style.font !== undefined && !knownFont(style.font))
      throw new ComposeError(`unknown subtitle font "${style.font}"`);
    if (style.size !== undefined && !within(style.size, 8, 400))
      throw new ComposeError("subtitle size must be 8 to 400 pixels");
    for (const k of ["colour", "boxColour"] as const) {
      if (style[k] !== undefined && !COLOUR.test(style[k]))
        throw new ComposeError(`subtitle ${k} must look like #RRGGBB`);
    }
    if (style.position !== undefined && !["bottom", "middle", "top"].includes(style.position))
      throw new ComposeError("subtitle position must be bottom, middle or top");
    if (style.boxOpacity !== undefined && !within(style.boxOpacity, 0, 1))
      throw new ComposeError("subtitle box opacity must be between 0 and 1");
  }
  if (t.cover?.shotId !== undefined && !seen.has(t.cover.shotId))
    throw new ComposeError(`the cover names shot "${t.cover.shotId}", which is not in the timeline`);
  if (t.cover?.imagePath !== undefined && typeof t.cover.imagePath !== "string")
    throw new ComposeError("the cover picture has no file");
  if (t.cover?.title !== undefined && (typeof t.cover.title !== "string" || t.cover.title.length > 100))
    throw new ComposeError("the cover title is text of at most 100 characters");
}
