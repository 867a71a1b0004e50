/**
 * What an episode's export adds to the package's own: `第N集` and the episode's title on the cover,
 * a "previously" card first (the previous episode's last line) and a "next episode" card last
 * (the next one's first line), when its batch asked for them.
 */
import { createHash } from "node:crypto";
import { mkdir, rename } from "node:fs/promises";
import { join } from "node:path";
import type { Db } from "../db/client.ts";
import { renderCover } from "../media/cover.ts";
import { withTempDir } from "../media/ffmpeg.ts";
import { frameSize, type Timeline, type TimelineShot } from "../media/timeline.ts";
import type { LineMaterial } from "../story/material.ts";
import { loadShot } from "./packages.ts";

/** How long a card stays on screen. */
export const CARD_S = 3;
const MAX_LINE = 60;

export interface EpisodeFrame {
  /** The cover's title: the season's and the episode's. */
  title: string;
  recap: string | null;
  next: string | null;
  language: "zh" | "en";
}

const spoken = (l: LineMaterial | undefined) => {
  const text = l?.text.trim() ?? "";
  return text.length > MAX_LINE ? `${text.slice(0, MAX_LINE - 1)}…` : text || null;
};

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
  const recap =
    batch?.recap && before
      ? spoken((await loadShot(db, { packageId: season, shotId: before.last_shot })).lines.at(-1))
      : null;
  const next =
    batch?.next_card && after
      ? spoken((await loadShot(db, { packageId: season, shotId: after.first_shot })).lines[0])
      : null;
  const language = /\p{Script=Han}/u.test(episode.title) ? "zh" : "en";
  return { title: `${seasonTitle} ${episode.title}`.trim(), recap, next, language };
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
