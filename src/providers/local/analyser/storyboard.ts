/** Shots: beats grouped into pictures with a camera, a transition and a spoken length. */
import type { Camera, Shot, TimeOfDay, Transition } from "../../../story/schemas.ts";
import { shotDurationS } from "../../../story/timing.ts";
import type { Mood } from "../../types.ts";
import type { Beat } from "./dialogue.ts";
import { clip, joinText, type Lang } from "./language.ts";

export interface SceneFrame {
  id: string;
  /** The first scene of its chapter: its first shot fades in. */
  opensChapter: boolean;
  /** undefined when the place is unknown (the description then leaves it out). */
  location: string | undefined;
  timeOfDay: TimeOfDay;
  mood: Mood;
}

/** At most this many narration sentences and dialogue lines in one shot. */
const MAX_SENTENCES = 3;
const MAX_LINES = 3;
/** A shot stops growing once its speech would pass this many seconds. */
const MAX_SECONDS = 24;

const ACTION: Record<Lang, RegExp> = {
  zh: /跑|追|冲|奔|逃|飞|跳|骑|扑|闯|爬|赶路/u,
  en: /\b(?:ran|run|running|chased?|chasing|rushed|raced|fled|jumped|leapt|sprinted|rode|drove|galloped|dashed|hurried|climbed)\b/i,
};

const TIME_WORDS: Record<Lang, Record<TimeOfDay, string>> = {
  zh: { dawn: "清晨", day: "白天", dusk: "黄昏", night: "夜晚" },
  en: { dawn: "dawn", day: "day", dusk: "dusk", night: "night" },
};

interface Draft {
  narration: string[];
  lines: Array<{ speaker: string; text: string }>;
  names: string[];
  lastPara: number;
}

const spoken = (d: Draft, lang: Lang) => [joinText(d.narration, lang), ...d.lines.map((l) => l.text)];

function describe(d: Draft, frame: SceneFrame, lang: Lang): string {
  const time = TIME_WORDS[lang][frame.timeOfDay];
  const speakers = [...new Set(d.lines.map((l) => l.speaker))];
  if (lang === "zh") {
    const setting = `${frame.location ? `${frame.location}，` : ""}${time}。`;
    const who = d.names.length ? `${d.names.join("、")}。` : "";
    const action = d.narration[0]
      ? clip(d.narration[0], 200)
      : speakers.length > 1
        ? `${speakers.join("与")}交谈。`
        : `${speakers[0]}说：“${clip(d.lines[0]!.text, 60)}”`;
    return clip(setting + who + action, 2000);
  }
  const place = frame.location
    ? `${frame.location[0]!.toUpperCase()}${frame.location.slice(1)}, ${time}.`
    : `${time[0]!.toUpperCase()}${time.slice(1)}.`;
  const who = d.names.length ? ` ${d.names.join(" and ")}.` : "";
  const action = d.narration[0]
    ? clip(d.narration[0], 300)
    : speakers.length > 1
      ? `${speakers.join(" and ")} talk.`
      : `${speakers[0]} says: "${clip(d.lines[0]!.text, 80)}"`;
  return clip(`${place}${who} ${action}`, 2000);
}

function camera(d: Draft, first: boolean, frame: SceneFrame, lang: Lang): Camera {
  if (first) return frame.mood === "epic" ? "aerial" : "wide";
  const speakers = new Set(d.lines.map((l) => l.speaker)).size;
  if (speakers >= 2) return "over_shoulder";
  if (speakers === 1) return "close_up";
  return ACTION[lang].test(d.narration.join(" ")) ? "tracking" : "medium";
}

/**
 * Groups a scene's beats into shots: up to three sentences of narration, then up to three
 * lines between at most two speakers; narration after dialogue starts a new shot.
 */
export function shotsFor(frame: SceneFrame, beats: Beat[], lang: Lang): Shot[] {
  const drafts: Draft[] = [];
  let cur: Draft = { narration: [], lines: [], names: [], lastPara: -1 };
  const flush = () => {
    if (cur.narration.length || cur.lines.length) drafts.push(cur);
    cur = { narration: [], lines: [], names: [], lastPara: -1 };
  };
  const tooLong = (extra: string) => shotDurationS([...spoken(cur, lang), extra]) > MAX_SECONDS;
  for (const b of beats) {
    const empty = !cur.narration.length && !cur.lines.length;
    if (b.kind === "narration") {
      const newParagraph = b.para !== cur.lastPara && cur.narration.length >= 2;
      if (!empty && (cur.lines.length > 0 || cur.narration.length >= MAX_SENTENCES || newParagraph || tooLong(b.text)))
        flush();
      cur.narration.push(b.text);
    } else {
      const speakers = new Set([...cur.lines.map((l) => l.speaker), b.speaker]);
      if (!empty && (cur.lines.length >= MAX_LINES || speakers.size > 2 || tooLong(b.text))) flush();
      cur.lines.push({ speaker: b.speaker, text: b.text });
    }
    for (const n of b.names) if (!cur.names.includes(n)) cur.names.push(n);
    cur.lastPara = b.para;
  }
  flush();
  return drafts.map((d, i) => {
    const narration = clip(joinText(d.narration, lang), 2000);
    const dialogue = d.lines.map((l) => ({ speaker: clip(l.speaker, 60), text: clip(l.text, 2000) }));
    const transition: Transition = i > 0 ? "cut" : frame.opensChapter ? "fade" : "dissolve";
    return {
      id: `${frame.id}h${i + 1}`,
      sceneId: frame.id,
      characters: [...new Set(d.names.map((n) => clip(n, 60)))],
      description: describe(d, frame, lang),
      narration,
      dialogue,
      camera: camera(d, i === 0, frame, lang),
      transition,
      durationS: shotDurationS([narration, ...dialogue.map((l) => l.text)]),
    };
  });
}
