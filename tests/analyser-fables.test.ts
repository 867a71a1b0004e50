// Characters named by what they are: on fables and scripts whose heroes are animals and role
// nouns (老渔夫, the fox, the old mouse), every acting or speaking one is a character with its
// species, scenery nouns stay scenery, and dialogue goes to the speaker the speech verb names.
import { describe, expect, test } from "bun:test";
import { localVoices } from "../src/providers/local/speech.ts";
import { assignVoices } from "../src/voices/assign.ts";
import { FABLES } from "./fixtures/fables.ts";
import { type FableScore, sameName, scoreFable } from "./support/fable-score.ts";

const scores: FableScore[] = FABLES.map(scoreFable);

describe("local analyser: fables", () => {
  test("at least ten fables and scripts, in Chinese and English", () => {
    expect(FABLES.length).toBeGreaterThanOrEqual(10);
    expect(FABLES.filter((f) => f.id.startsWith("zh-")).length).toBeGreaterThanOrEqual(5);
    expect(FABLES.filter((f) => f.id.startsWith("en-")).length).toBeGreaterThanOrEqual(5);
  });

  for (const [i, f] of FABLES.entries()) {
    test(`${f.id}: its animals and role nouns are characters with their species; scenery is not`, () => {
      const { analysis } = scores[i]!;
      const found = analysis.characters.map((c) => ({ name: c.name, species: c.species }));
      for (const want of f.characters) {
        const c = found.find((x) => sameName(x.name, want.name));
        expect({ fable: f.id, character: want.name, found: c ?? null }).toEqual({
          fable: f.id,
          character: want.name,
          found: { name: c?.name ?? want.name, species: want.species },
        });
      }
      for (const noun of f.scenery) expect(found.some((c) => c.name.includes(noun))).toBe(false);
      // Everyone in the fable is on screen somewhere: a shot shows each character.
      for (const c of analysis.characters) expect(analysis.shots.some((s) => s.characters.includes(c.name))).toBe(true);
    });
  }

  test("at least 90% of lines go to the right speaker, and none to nobody when a speech verb names one", () => {
    const lines = scores.reduce((n, s) => n + s.lines, 0);
    const correct = scores.reduce((n, s) => n + s.correct, 0);
    expect(lines).toBeGreaterThanOrEqual(60);
    expect(correct / lines).toBeGreaterThanOrEqual(0.9);
    // Every line of the fixtures has its speaker named by a verb (or a pronoun for a named one).
    expect(scores.flatMap((s) => s.said.filter((x) => x.got === "未知" || x.got === "Unknown"))).toEqual([]);
    expect(scores.flatMap((s) => s.said.filter((x) => x.got === null))).toEqual([]);
  });

  test("every character of a fable speaks with a voice of its own, not the narrator's", () => {
    for (const { id, analysis } of scores) {
      const cast = assignVoices(analysis.characters, localVoices(), {}, { language: analysis.storyline.language });
      const voices = analysis.characters.map((c) => cast.byCharacter[c.name]);
      expect({ id, distinct: new Set([...voices, cast.narrator]).size }).toEqual({
        id,
        distinct: analysis.characters.length + 1,
      });
    }
  });

  test("the species tell animals from people across both languages", () => {
    const speciesOf = (id: string, name: string) =>
      scores.find((s) => s.id === id)!.analysis.characters.find((c) => sameName(c.name, name))?.species;
    expect(speciesOf("zh-fox-crow", "狐狸")).toBe("fox");
    expect(speciesOf("en-fox-crow", "the fox")).toBe("fox");
    expect(speciesOf("zh-tortoise-hare", "兔子")).toBe("rabbit");
    expect(speciesOf("en-tortoise-hare", "the hare")).toBe("rabbit");
    expect(speciesOf("zh-scholar-tiger", "老虎")).toBe("tiger");
    expect(speciesOf("zh-scholar-tiger", "书生")).toBe("human");
    expect(speciesOf("en-fisherman", "the old fisherman")).toBe("human");
  });
});
