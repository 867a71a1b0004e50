import { createHash } from "node:crypto";
import type { Config } from "../../config.ts";
import { ASPECT_RATIO_IDS, type AspectRatioId, STYLE_IDS, type StyleId } from "../../core/project-options.ts";
import type { Db } from "../../db/client.ts";
import { FONT_NAMES } from "../../media/fonts.ts";
import { PAINTER_VERSION, paintKeyframe } from "../../providers/local/painter.ts";
import { modelChoices } from "../../services/models.ts";
import type { Storage } from "../../storage/types.ts";
import { STYLE_LABELS, STYLE_PRESETS } from "../../story/styles.ts";

const PREVIEW_TTL_S = 3600;

/** Seed 003 §2.1.1's aspect ratios, at the 720p the pipeline draws pictures in. */
const RATIO_INFO: Record<AspectRatioId, { width: number; height: number; description: string }> = {
  "16:9": { width: 1280, height: 720, description: "Widescreen: desktop, YouTube" },
  "9:16": { width: 720, height: 1280, description: "Vertical: Douyin, TikTok, Reels" },
  "4:3": { width: 960, height: 720, description: "Classic TV" },
  "3:4": { width: 720, height: 960, description: "Portrait: Xiaohongshu" },
  "1:1": { width: 720, height: 720, description: "Square" },
  "2.35:1": { width: 1692, height: 720, description: "Cinemascope" },
};

/** `duration_seconds` values a client offers; "smart" (-1) leaves the length to the storyboard. */
const DURATIONS = [
  { label: "smart", value: -1 },
  { label: "30 s", value: 30 },
  { label: "60 s", value: 60 },
  { label: "90 s", value: 90 },
  { label: "3 min", value: 180 },
  { label: "5 min", value: 300 },
];

/**
 * A style's preview: a sample scene drawn by the local painter in that style's look, made once
 * and kept in storage under a key that changes when the preset does.
 */
async function stylePreview(storage: Storage, id: StyleId): Promise<string> {
  const preset = STYLE_PRESETS[id];
  const version = createHash("sha256")
    .update(JSON.stringify({ preset, painter: PAINTER_VERSION }))
    .digest("hex")
    .slice(0, 12);
  const key = `previews/styles/${id}-${version}.png`;
  if (!(await storage.stat(key))) {
    const bytes = await paintKeyframe({
      width: 480,
      height: 270,
      scene: { location: "teahouse by the river", timeOfDay: "dusk", mood: "calm" },
      characters: [{ name: "Lin" }, { name: "Su" }],
      look: { palette: preset.palette, monochrome: preset.monochrome, style: id },
    });
    await storage.put(key, bytes, { contentType: "image/png" });
  }
  return (await storage.signedUrl(key, PREVIEW_TTL_S)).url;
}

/** Everything a client needs to build the new-project form (seed 003 §2.1.1). */
export async function inputOptions(deps: { db: Db; storage: Storage; config: Config }) {
  const styles = [];
  for (const id of STYLE_IDS)
    styles.push({ id, ...STYLE_LABELS[id], preview_image_url: await stylePreview(deps.storage, id) });
  return {
    input_types: [
      { id: "novel" as const, description: "Prose: the pipeline finds the storyline, characters, scenes and shots" },
      { id: "script" as const, description: "A screenplay: scenes and dialogue as written" },
      { id: "storyboard" as const, description: "A shot list: one shot per paragraph" },
    ],
    styles,
    aspect_ratios: ASPECT_RATIO_IDS.map((ratio) => ({ ratio, ...RATIO_INFO[ratio] })),
    durations: DURATIONS,
    languages: [
      { id: "zh" as const, name: "中文" },
      { id: "en" as const, name: "English" },
    ],
    fonts: FONT_NAMES.map((name) => ({ name })),
    models: await modelChoices(deps.db, deps.config),
  };
}
