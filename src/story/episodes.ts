/**
 * A season from one storyboard: the shots cut into episodes of about the target length. `chapters`
 * never cuts across a chapter (unless a chapter is shorter than a third of the target, when it
 * joins a neighbour); `beats` cuts at the scene changes nearest the target, preferring a line that
 * leaves the viewer hanging (a question, a threat, a reveal). Pure: the same storyboard and
 * options give the same plan.
 */
import type { Scene, Shot } from "./schemas.ts";

export const SPLITS = ["chapters", "beats"] as const;
export type Split = (typeof SPLITS)[number];

export const EPISODE_LIMITS = { minTargetS: 30, maxTargetS: 600, defaultTargetS: 90, maxEpisodes: 500 } as const;

export interface SeriesOptions {
  target_episode_s?: number;
  episode_count?: number;
  split?: Split;
}

/** What the planner reads of a storyboard. */
export interface SeriesSource {
  language: "zh" | "en";
  chapters: Array<{ index: number; title: string }>;
  scenes: Array<Pick<Scene, "id" | "chapter">>;
  shots: Array<Pick<Shot, "id" | "sceneId" | "durationS" | "narration" | "dialogue">>;
}

/** One proposed episode: a run of consecutive shots. */
export interface PlannedEpisode {
  index: number;
  title: string;
  first_shot: string;
  last_shot: string;
  chapters: number[];
  shot_count: number;
  estimated_s: number;
}

/** Why options or an edited plan cannot be used: the field, and what is wrong. */
export interface PlanProblem {
  field: string;
  message: string;
}

export class PlanError extends Error {
  override name = "PlanError";
  constructor(readonly problems: PlanProblem[]) {
    super(problems.map((p) => `${p.field}: ${p.message}`).join("; "));
  }
}

/** Words that end a scene on a hook: a reveal, a threat, something unfinished. */
const HOOK =
  /原来|竟然|真相|秘密|是谁|怎么会|不好|小心|突然|忽然|就在这时|secret|truth|suddenly|who is|behind you|watch out/i;

/** How much a cut after this shot leaves the viewer wanting the next episode (0 to 1). */
function hookOf(shot: SeriesSource["shots"][number]): number {
  const last = shot.dialogue.at(-1)?.text ?? shot.narration;
  const text = last.trim();
  let score = 0;
  if (/[？?]["”」』]?$/.test(text)) score += 0.6;
  if (/[…！!]["”」』]?$|\.\.\.$/.test(text)) score += 0.3;
  if (HOOK.test(text)) score += 0.4;
  return Math.min(1, score);
}

function checkOptions(o: SeriesOptions, shots: number): Required<Pick<SeriesOptions, "split">> & SeriesOptions {
  const problems: PlanProblem[] = [];
  const { minTargetS, maxTargetS, maxEpisodes } = EPISODE_LIMITS;
  if (o.target_episode_s !== undefined && o.episode_count !== undefined)
    problems.push({ field: "episode_count", message: "give target_episode_s or episode_count, not both" });
  if (
    o.target_episode_s !== undefined &&
    !(Number.isFinite(o.target_episode_s) && o.target_episode_s >= minTargetS && o.target_episode_s <= maxTargetS)
  )
    problems.push({
      field: "target_episode_s",
      message: `an episode lasts ${minTargetS} to ${maxTargetS} seconds`,
    });
  if (o.episode_count !== undefined) {
    if (!Number.isInteger(o.episode_count) || o.episode_count < 1 || o.episode_count > maxEpisodes)
      problems.push({ field: "episode_count", message: `a season has 1 to ${maxEpisodes} episodes` });
    else if (o.episode_count > shots)
      problems.push({
        field: "episode_count",
        message: `the storyboard has ${shots} shots: at most ${shots} episodes`,
      });
  }
  if (o.split !== undefined && !SPLITS.includes(o.split))
    problems.push({ field: "split", message: `split is one of ${SPLITS.join(", ")}` });
  if (shots === 0) problems.push({ field: "storyboard", message: "the storyboard has no shots yet" });
  if (problems.length) throw new PlanError(problems);
  return { ...o, split: o.split ?? "chapters" };
}

type ShotIn = SeriesSource["shots"][number] & { chapter: number; sceneChange: boolean };

/**
 * Cuts `shots` into `k` runs of about equal length: each cut at the boundary nearest its ideal
 * place, a scene change preferred to a cut inside a scene, and (by `beats`) a hanging line
 * preferred to a quiet one.
 */
function cut(shots: ShotIn[], k: number, target: number, beats: boolean): ShotIn[][] {
  // By beats a cut inside a scene is the last resort (a scene longer than the target); by
  // chapters it costs a little, so episodes stay close to equal.
  const insideScene = beats ? 1 : 0.15;
  if (k <= 1 || shots.length <= 1) return [shots];
  const total = shots.reduce((s, x) => s + x.durationS, 0);
  const ends: number[] = [];
  let acc = 0;
  for (const s of shots) {
    acc += s.durationS;
    ends.push(acc);
  }
  const cuts: number[] = [];
  let from = 0;
  for (let j = 1; j < k; j++) {
    const ideal = (total * j) / k;
    // Leave room: every later part keeps at least one shot.
    const last = shots.length - (k - j);
    let best = -1;
    let bestScore = Number.POSITIVE_INFINITY;
    for (let i = from; i < last; i++) {
      const next = shots[i + 1]!;
      const score =
        Math.abs(ends[i]! - ideal) / target +
        (next.sceneChange ? 0 : insideScene) -
        (beats ? 0.12 * hookOf(shots[i]!) : 0);
      if (score < bestScore) {
        bestScore = score;
        best = i;
      }
    }
    cuts.push(best);
    from = best + 1;
  }
  const parts: ShotIn[][] = [];
  let start = 0;
  for (const c of cuts) {
    parts.push(shots.slice(start, c + 1));
    start = c + 1;
  }
  parts.push(shots.slice(start));
  return parts;
}

/** The storyboard's shots, each with its chapter and whether it opens a new scene. */
function shotsOf(source: SeriesSource): ShotIn[] {
  const chapterOf = new Map(source.scenes.map((s) => [s.id, s.chapter]));
  return source.shots.map((s, i) => ({
    ...s,
    chapter: chapterOf.get(s.sceneId) ?? 1,
    sceneChange: i === 0 || source.shots[i - 1]!.sceneId !== s.sceneId,
  }));
}

const sum = (shots: ShotIn[]) => shots.reduce((s, x) => s + x.durationS, 0);

/**
 * Consecutive groups packed into at most `count` runs, the longest run as short as it can be: the
 * smallest limit under which packing greedily needs no more than `count` runs, found by bisection.
 */
function pack(groups: ShotIn[][], count: number): ShotIn[][] {
  const sizes = groups.map(sum);
  const runs = (limit: number) => {
    const out: ShotIn[][] = [];
    let acc = Number.POSITIVE_INFINITY;
    for (const [i, g] of groups.entries()) {
      if (acc + sizes[i]! > limit) {
        out.push([...g]);
        acc = sizes[i]!;
      } else {
        out.at(-1)!.push(...g);
        acc += sizes[i]!;
      }
    }
    return out;
  };
  let lo = Math.max(...sizes);
  let hi = sizes.reduce((a, b) => a + b, 0);
  for (let i = 0; i < 50 && hi - lo > 0.01; i++) {
    const mid = (lo + hi) / 2;
    if (runs(mid).length <= count) hi = mid;
    else lo = mid;
  }
  return runs(hi);
}

/** The number of episodes that keeps a run of `d` seconds closest to the target (at least one). */
const countFor = (d: number, target: number, max: number) => {
  let best = 1;
  for (let k = 2; k <= max; k++) if (Math.abs(d / k - target) < Math.abs(d / best - target)) best = k;
  return best;
};

/** Proposes the season (see the module's comment). Throws PlanError naming what is wrong with the options. */
export function planEpisodes(source: SeriesSource, options: SeriesOptions = {}): PlannedEpisode[] {
  const o = checkOptions(options, source.shots.length);
  const shots = shotsOf(source);
  const total = sum(shots);
  const target = o.episode_count ? total / o.episode_count : (o.target_episode_s ?? EPISODE_LIMITS.defaultTargetS);
  let parts: ShotIn[][];
  if (o.split === "beats") {
    parts = cut(shots, o.episode_count ?? countFor(total, target, shots.length), target, true);
  } else {
    // Chapters, a chapter shorter than a third of the target joined to its shorter neighbour.
    let groups: ShotIn[][] = [];
    for (const s of shots) {
      const g = groups.at(-1);
      if (g && g[0]!.chapter === s.chapter) g.push(s);
      else groups.push([s]);
    }
    const join = (i: number, j: number) => {
      groups = [...groups.slice(0, i), [...groups[i]!, ...groups[j]!], ...groups.slice(j + 1)];
    };
    for (let i = groups.findIndex((g) => sum(g) < target / 3); i >= 0 && groups.length > 1; ) {
      const left = i > 0 ? sum(groups[i - 1]!) : Number.POSITIVE_INFINITY;
      const right = i < groups.length - 1 ? sum(groups[i + 1]!) : Number.POSITIVE_INFINITY;
      if (left <= right) join(i - 1, i);
      else join(i, i + 1);
      i = groups.findIndex((g) => sum(g) < target / 3);
    }
    // Fewer episodes asked for than chapters: whole chapters packed into that many episodes, the
    // longest as short as it can be.
    if (o.episode_count && groups.length > o.episode_count) groups = pack(groups, o.episode_count);
    const counts = groups.map((g) => countFor(sum(g), target, g.length));
    if (o.episode_count) {
      // Exactly the count: one more where episodes run longest, one fewer where they run shortest.
      let n = counts.reduce((a, b) => a + b, 0);
      while (n < o.episode_count) {
        let i = -1;
        for (let g = 0; g < groups.length; g++)
          if (counts[g]! < groups[g]!.length && (i < 0 || sum(groups[g]!) / counts[g]! > sum(groups[i]!) / counts[i]!))
            i = g;
        counts[i]!++;
        n++;
      }
      while (n > o.episode_count) {
        let i = -1;
        for (let g = 0; g < groups.length; g++)
          if (counts[g]! > 1 && (i < 0 || sum(groups[g]!) / counts[g]! < sum(groups[i]!) / counts[i]!)) i = g;
        counts[i]!--;
        n--;
      }
    }
    parts = groups.flatMap((g, i) => cut(g, counts[i]!, target, false));
  }
  const titles = new Map(source.chapters.map((c) => [c.index, c.title]));
  return parts.map((p, i) => episodeOf(p, i + 1, source.language, titles));
}

function episodeOf(p: ShotIn[], n: number, lang: "zh" | "en", titles: Map<number, string>): PlannedEpisode {
  const chapters = [...new Set(p.map((s) => s.chapter))];
  const heading = titles.get(chapters[0]!)?.trim();
  const label = lang === "zh" ? `第${n}集` : `Episode ${n}`;
  return {
    index: n,
    title: heading ? `${label} ${heading}`.slice(0, 200) : label,
    first_shot: p[0]!.id,
    last_shot: p.at(-1)!.id,
    chapters,
    shot_count: p.length,
    estimated_s: Math.round(sum(p) * 10) / 10,
  };
}

/**
 * An edited plan checked against the storyboard: every episode a run of shots in storyboard order,
 * together covering every shot once — no gap, no overlap, nothing out of order. Returns the plan
 * as stored (its episodes numbered in order, with their chapters, counts and lengths).
 */
export function checkPlan(
  source: SeriesSource,
  edited: Array<{ title: string; first_shot: string; last_shot: string }>,
): PlannedEpisode[] {
  const problems: PlanProblem[] = [];
  const at = new Map(source.shots.map((s, i) => [s.id, i]));
  if (edited.length === 0) problems.push({ field: "episodes", message: "a plan has at least one episode" });
  if (edited.length > EPISODE_LIMITS.maxEpisodes)
    problems.push({ field: "episodes", message: `a season has at most ${EPISODE_LIMITS.maxEpisodes} episodes` });
  let next = 0;
  const ranges: Array<[number, number]> = [];
  for (const [i, e] of edited.entries()) {
    const a = at.get(e.first_shot);
    const b = at.get(e.last_shot);
    if (a === undefined || b === undefined) {
      const which = a === undefined ? "first_shot" : "last_shot";
      problems.push({ field: `episodes[${i}].${which}`, message: `no shot "${e[which]}" in the storyboard` });
      continue;
    }
    if (b < a) problems.push({ field: `episodes[${i}]`, message: "its last shot comes before its first" });
    else if (a > next)
      problems.push({
        field: `episodes[${i}].first_shot`,
        message: `leaves a gap: shots ${source.shots[next]!.id} to ${source.shots[a - 1]!.id} are in no episode`,
      });
    else if (a < next)
      problems.push({
        field: `episodes[${i}].first_shot`,
        message: `overlaps the episode before it (shot ${source.shots[a]!.id} is in both)`,
      });
    ranges.push([a, b]);
    next = Math.max(next, b + 1);
  }
  if (!problems.length && next < source.shots.length)
    problems.push({
      field: "episodes",
      message: `leaves a gap: shots ${source.shots[next]!.id} to ${source.shots.at(-1)!.id} are in no episode`,
    });
  if (problems.length) throw new PlanError(problems);
  const shots = shotsOf(source);
  return ranges.map(([a, b], i) => {
    const episode = episodeOf(shots.slice(a, b + 1), i + 1, source.language, new Map());
    return { ...episode, title: edited[i]!.title.trim().slice(0, 200) || episode.title };
  });
}
