import { analyseStory } from "../../src/providers/local/analyser/index.ts";
import type { StoryAnalysis } from "../../src/story/schemas.ts";
import type { Fable } from "../fixtures/fables.ts";

/** "The Fox", "the fox" and "fox" name one character. */
export const sameName = (a: string, b: string) =>
  a.toLowerCase().replace(/^the\s+/, "") === b.toLowerCase().replace(/^the\s+/, "");

export interface FableScore {
  id: string;
  analysis: StoryAnalysis;
  lines: number;
  correct: number;
  unknown: number;
  /** Each expected line with who the analyser gave it to (null: no dialogue line holds the fragment). */
  said: Array<{ fragment: string; want: string; got: string | null }>;
}

/** Analyses a fable and scores its dialogue lines against the speakers written down for it. */
export function scoreFable(f: Fable): FableScore {
  const analysis = analyseStory(f.text);
  const dialogue = analysis.shots.flatMap((s) => s.dialogue);
  const said = f.lines.map(([fragment, want]) => ({
    fragment,
    want,
    got: dialogue.find((d) => d.text.includes(fragment))?.speaker ?? null,
  }));
  return {
    id: f.id,
    analysis,
    lines: said.length,
    correct: said.filter((s) => s.got !== null && sameName(s.got, s.want)).length,
    unknown: said.filter((s) => s.got === "未知" || s.got === "Unknown").length,
    said,
  };
}
