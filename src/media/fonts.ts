import { createHash, randomUUID } from "node:crypto";
import { mkdirSync, readlinkSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { SUBTITLE_FONTS, type SubtitleFont } from "../core/export-record.ts";

/**
 * The fonts Inkreel ships (OFL packages, so Chinese renders on a machine with no CJK font), keyed
 * by the family name libass and drawtext are given. ffmpeg gets its own fontconfig setup listing
 * only these: no dependence on the host's fonts, and no cost of scanning them.
 */
const FONTS: Record<SubtitleFont, { file: string; assName: string }> = {
  "Noto Sans SC": {
    file: Bun.resolveSync("@expo-google-fonts/noto-sans-sc/500Medium/NotoSansSC_500Medium.ttf", import.meta.dir),
    assName: "Noto Sans SC Medium",
  },
  "Noto Sans SC Bold": {
    file: Bun.resolveSync("@expo-google-fonts/noto-sans-sc/700Bold/NotoSansSC_700Bold.ttf", import.meta.dir),
    assName: "Noto Sans SC Bold",
  },
};

export const DEFAULT_FONT: SubtitleFont = "Noto Sans SC";
/** The shipped font families, as `subtitle.font_name` names them. */
export const FONT_NAMES: readonly SubtitleFont[] = SUBTITLE_FONTS;

export const knownFont = (name: string): name is SubtitleFont => Object.hasOwn(FONTS, name);

export function fontFile(name: string = DEFAULT_FONT): string {
  const font = knownFont(name) ? FONTS[name] : undefined;
  if (!font) throw new RangeError(`unknown font "${name}"`);
  return font.file;
}

/** The family name libass matches in an ASS style. */
export const assFontName = (name: string = DEFAULT_FONT) =>
  (knownFont(name) ? FONTS[name] : FONTS[DEFAULT_FONT]).assName;

let prepared: { dir: string; config: string } | null = null;

/** Replaces `path` by what `make(tmpPath)` creates, in one rename: no reader sees it half-made. */
function replaceAtomically(path: string, make: (tmpPath: string) => void) {
  const tmp = `${path}.${randomUUID()}`;
  make(tmp);
  renameSync(tmp, path);
}

/**
 * A directory holding only our fonts (links to this installation's files) and a fontconfig file
 * that lists just it, with a cache. Its name carries a digest of the font paths, so two
 * installations (checkouts, CI clones) never share one; a link that points elsewhere (a removed
 * clone's files, which would leave libass with no font at all) is replaced, never trusted.
 */
export function prepareFontDir(base = tmpdir()): { dir: string; config: string } {
  const files = Object.values(FONTS).map((f) => f.file);
  const digest = createHash("sha256").update(files.join("\n")).digest("hex").slice(0, 12);
  const root = join(base, `inkreel-fonts-${process.getuid?.() ?? 0}-${digest}`);
  const dir = join(root, "fonts");
  mkdirSync(join(root, "cache"), { recursive: true });
  mkdirSync(dir, { recursive: true });
  for (const file of files) {
    const link = join(dir, basename(file));
    let target: string | null = null;
    try {
      target = readlinkSync(link);
    } catch {
      // Not there yet.
    }
    if (target !== file) replaceAtomically(link, (tmp) => symlinkSync(file, tmp));
  }
  const config = join(root, "fonts.conf");
  replaceAtomically(config, (tmp) =>
    writeFileSync(
      tmp,
      `<?xml version="1.0"?>\n<fontconfig><dir>${dir}</dir><cachedir>${join(root, "cache")}</cachedir></fontconfig>\n`,
    ),
  );
  return { dir, config };
}

/** prepareFontDir, once per process. */
export function fontSetup(): { dir: string; config: string } {
  prepared ??= prepareFontDir();
  return prepared;
}
