// ffmpeg's font directory (src/media/fonts.ts): links to this installation's font files, never
// trusted when they point elsewhere (a removed clone's files left libass drawing no text at all).
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FONT_NAMES, fontFile, prepareFontDir } from "../src/media/fonts.ts";

// A directory of its own: the one ffmpeg uses meanwhile in other test processes is never touched.
const base = mkdtempSync(join(tmpdir(), "inkreel-fonts-test-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

test("every shipped font is linked from the directory the fontconfig file lists", () => {
  const { dir, config } = prepareFontDir(base);
  expect(readFileSync(config, "utf8")).toContain(`<dir>${dir}</dir>`);
  for (const name of FONT_NAMES) {
    const file = fontFile(name);
    const link = join(dir, file.split("/").pop()!);
    expect(readlinkSync(link)).toBe(file);
    expect(existsSync(link)).toBe(true);
  }
});

test("a dangling link (its checkout removed) is replaced by one to this installation's file", () => {
  const { dir } = prepareFontDir(base);
  const file = fontFile(FONT_NAMES[0]!);
  const link = join(dir, file.split("/").pop()!);
  rmSync(link);
  symlinkSync("/nonexistent/removed-clone/node_modules/font.ttf", link);
  expect(existsSync(link)).toBe(false);
  prepareFontDir(base);
  expect(readlinkSync(link)).toBe(file);
  expect(existsSync(link)).toBe(true);
});
