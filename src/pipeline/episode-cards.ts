/**
 * What an episode's export adds to the package's own: `第N集` and the episode's title on the cover,
 * a "previously" card first (the previous episode's last line) and a "next episode" card last
 * (the next one's first line), when its batch asked for them.
 */
import { createHash } from "node:crypto";
import { mkdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { Type } from "@sinclair/typebox";
import type { Db } from "../db/client.ts";
import { renderCover } from "../media/cover.ts";
import { withTempDir } from "../media/ffmpeg.ts";
import { frameSize, type Timeline, type TimelineShot } from "../media/timeline.ts";
import type { TextModel } from "../providers/types.ts";
import type { LineMaterial } from "../story/material.ts";
import { loadShot } from "./packages.ts";

/** How long a card stays on screen. */
export const CARD_S = 3;
const MAX_LINE = 60;

export interface EpisodeFrame {
  /** The cover's title: the season's and the episode's. */
  title: string;
  /** The cards' text (null: no card): a line of the story, or what the text model wrote from them. */
  recap: string | null;
  next: string | null;
  /** What they are written from: the previous episode's last shot's lines, the next one's first shot's. */
  recapFrom: string[];
  nextFrom: string[];
  language: "zh" | "en";
}

/** A card's text on one card: trimmed, and cut with an ellipsis past MAX_LINE characters. */
const cardText = (text: string | undefined) => {
  const t = text?.trim() ?? "";
  return [...t].length > MAX_LINE ? `${[...t].slice(0, MAX_LINE - 1).join("")}…` : t || null;
};
const texts = (lines: LineMaterial[]) => lines.map((l) => l.text.trim()).filter(Boolean);

/** The episode an export's package belongs to, with its cards' lines; null for a project's own package. */
export async function episodeFrame(
  db: Db,
  { packageId, runId, seasonTitle }: { packageId: string; runId: string | null; seasonTitle: string },
): Promise<EpisodeFrame | null> {
  const episode = await db
    .selectFrom("packages")
    .innerJoin("episodes", "episodes.id", "packages.episode_id")
    .select(["episodes.project_id", "episodes.n", "episodes.title", "episodes.package_id as season_id"])
    .where("packages.id", "=", packageId)
    .executeTakeFirst();
  if (!episode) return null;
  const batch = runId
    ? await db
        .selectFrom("runs")
        .innerJoin("series_batches", "series_batches.id", "runs.batch_id")
        .select(["series_batches.recap", "series_batches.next_card"])
        .where("runs.id", "=", runId)
        .executeTakeFirst()
    : undefined;
  const neighbours = await db
    .selectFrom("episodes")
    .select(["n", "first_shot", "last_shot"])
    .where("project_id", "=", episode.project_id)
    .where("n", "in", [episode.n - 1, episode.n + 1])
    .execute();
  const before = neighbours.find((e) => e.n === episode.n - 1);
  const after = neighbours.find((e) => e.n === episode.n + 1);
  const season = episode.season_id;
  const recapFrom =
    batch?.recap && before ? texts((await loadShot(db, { packageId: season, shotId: before.last_shot })).lines) : [];
  const nextFrom =
    batch?.next_card && after ? texts((await loadShot(db, { packageId: season, shotId: after.first_shot })).lines) : [];
  const language = /\p{Script=Han}/u.test(episode.title) ? "zh" : "en";
  return {
    title: `${seasonTitle} ${episode.title}`.trim(),
    recap: cardText(recapFrom.at(-1)),
    next: cardText(nextFrom[0]),
    recapFrom,
    nextFrom,
    language,
  };
}

/** What the text model answers for the cards (OpenAI strict structured output). */
export const EpisodeCardsSchema = Type.Object(
  {
    recap: Type.String({
      maxLength: 200,
      description: "one sentence: what happened at the end of the previous episode",
    }),
    next: Type.String({ maxLength: 200, description: "one sentence teasing the next episode, ending on its hook" }),
  },
  { $id: "episode_cards", additionalProperties: false },
);

const CARDS_SYSTEM =
  "You write the two cards of a short-drama episode: a one-sentence recap of how the previous episode ended, and a " +
  "one-sentence teaser of how the next one opens that leaves the viewer wanting it. Write in the language given, " +
  "in the story's own voice, under 40 characters each; answer an empty string for a card with no lines.";

/**
 * The cards written by the text model from their lines; the local analyser writes nothing, so its
 * cards are the lines themselves (the previous episode's last, the next one's first).
 */
export async function writeCards(text: TextModel, frame: EpisodeFrame, signal?: AbortSignal): Promise<EpisodeFrame> {
  if (text.provider === "local" || (frame.recapFrom.length === 0 && frame.nextFrom.length === 0)) return frame;
  const prompt = JSON.stringify({
    language: frame.language,
    episode: frame.title,
    previous_episode_ending: frame.recapFrom,
    next_episode_opening: frame.nextFrom,
  });
  const out = await text.generateObject({ schema: EpisodeCardsSchema, system: CARDS_SYSTEM, prompt, signal });
  return {
    ...frame,
    recap: frame.recapFrom.length ? (cardText(out.data.recap) ?? frame.recap) : null,
    next: frame.nextFrom.length ? (cardText(out.data.next) ?? frame.next) : null,
  };
}

/** The cards drawn (once per text and size, under `cacheDir`) and put first and last on the timeline. */
export async function withCards(
  timeline: Timeline,
  frame: EpisodeFrame,
  { cacheDir, signal }: { cacheDir: string; signal: AbortSignal },
): Promise<Timeline> {
  const size = frameSize(timeline.output);
  const labels =
    frame.language === "zh" ? { recap: "前情提要", next: "下集预告" } : { recap: "Previously", next: "Next episode" };
  await mkdir(cacheDir, { recursive: true });
  const card = async (id: string, text: string): Promise<TimelineShot> => {
    const name = createHash("sha256")
      .update(JSON.stringify([text, size]))
      .digest("hex")
      .slice(0, 32);
    const path = join(cacheDir, `${name}.jpg`);
    // Drawn in a directory of its own, then moved into place whole: two exports may draw the same card.
    if (!(await Bun.file(path).exists()))
      await withTempDir(async (dir) => {
        const out = join(dir, "card.jpg");
        await renderCover({ kind: "plain" }, text, size, dir, out, { signal });
        await rename(out, path).catch(() => Bun.write(path, Bun.file(out)));
      });
    return { id, visual: { kind: "still", path }, durationS: CARD_S, audio: [] };
  };
  const first = timeline.shots[0];
  const shots = [
    ...(frame.recap ? [await card("recap", `${labels.recap}：${frame.recap}`)] : []),
    ...timeline.shots,
    ...(frame.next ? [await card("next", `${labels.next}：${frame.next}`)] : []),
  ];
  // An automatic cover shows the first shot's picture: the episode's, not its recap card.
  const cover =
    timeline.cover && first && !timeline.cover.shotId && !timeline.cover.imagePath && !timeline.cover.plain
      ? { ...timeline.cover, shotId: first.id }
      : timeline.cover;
  return { ...timeline, shots, cover };
}
