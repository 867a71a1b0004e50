import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The fonts Inkreel ships (OFL packages, so Chinese renders on a machine with no CJK font), keyed
 * by the family name libass and drawtext are given. ffmpeg gets its own fontconfig setup listing
 * only these: no dependence on the host's fonts, and no cost of scanning them.
 */
const FONTS: Record<string, { file: string; assName: string }> = {
  "Noto Sans SC": {
    file: Bun.resolveSync("@expo-google-fonts/noto-sans-sc/500Medium/NotoSansSC_500Medium.ttf", import.meta.dir),
    assName: "Noto Sans SC Medium",
  },
  "Noto Sans SC Bold": {
    file: Bun.resolveSync("@expo-google-fonts/noto-sans-sc/700Bold/NotoSansSC_700Bold.ttf", import.meta.dir),
    assName: "Noto Sans SC Bold",
  },
};

export const DEFAULT_FONT = "Noto Sans SC";
/** The shipped font families, as `subtitle.font_name` names them. */
export const FONT_NAMES = Object.keys(FONTS);

export const knownFont = (name: string) => Object.hasOwn(FONTS, name);

export function fontFile(name = DEFAULT_FONT): string {
  const font = FONTS[name];
  if (!font) throw new RangeError(`unknown font "${name}"`);
  return font.file;
}

/** The family name libass matches in an ASS style. */
export const assFontName = (name = DEFAULT_FONT) => FONTS[name]?.assName ?? FONTS[DEFAULT_FONT]!.assName;

let prepared: { dir: string; config: string } | null = null;

/** A directory holding only our fonts, and a fontconfig file that lists just it (with a cache). */
export function fontSetup(): { dir: string; config: string } {
  if (prepared) return prepared;
  const root = join(tmpdir(), `inkreel-fonts-${process.getuid?.() ?? 0}`);
  const dir = join(root, "fonts");
  mkdirSync(join(root, "cache"), { recursive: true });
  mkdirSync(dir, { recursive: true });
  for (const { file } of Object.values(FONTS)) {
    const link = join(dir, file.split("/").pop()!);
    try {
      if (!existsSync(link)) symlinkSync(file, link);
    } catch (e) {
      // Another process made it first.
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  const config = join(root, "fonts.conf");
  writeFileSync(
    config,
    `<?xml version="1.0"?>\n<fontconfig><dir>${dir}</dir><cachedir>${join(root, "cache")}</cachedir></fontconfig>\n`,
  );
  prepared = { dir, config };
  return prepared;
}
