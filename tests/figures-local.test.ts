// The offline painter's figures: a person is a DiceBear head on a drawn body, an animal a drawing
// of its species, each seeded by the character — so one character is byte-identical wherever it is
// drawn, different characters differ, and a fox is drawn as a fox.
import { describe, expect, test } from "bun:test";
import { type FigureSpec, figurePng, figureSvg, peopleStyle } from "../src/providers/local/figures.ts";
import { figureOf } from "../src/story/material.ts";
import { SPECIES } from "../src/story/schemas.ts";
import { FABLES } from "./fixtures/fables.ts";
import { scoreFable } from "./support/fable-score.ts";

const sha = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");
const person = (seed: string): FigureSpec => ({
  seed,
  species: "human",
  gender: "unknown",
  age: "unknown",
  style: "openPeeps",
});

describe("local figures", () => {
  test("the same character gives byte-identical figures, in any project", () => {
    // A library character is seeded by its item id: two projects casting it draw it alike.
    const item = "0b7c6d3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e";
    const inA = figureOf({ name: "林小雨", gender: "female", age: "young", library_item_id: item, species: "human" });
    const inB = figureOf({ name: "小雨", gender: "female", age: "young", library_item_id: item, species: "human" });
    expect(inA.seed).toBe(inB.seed);
    const a = figurePng({ ...inA, style: "lorelei" }, 360);
    const b = figurePng({ ...inB, style: "lorelei" }, 360);
    expect(sha(a)).toBe(sha(b));
    expect(a.slice(1, 4)).toEqual(new TextEncoder().encode("PNG"));
  });

  test("12 different characters give 12 different looks", () => {
    const names = [
      "林小雨",
      "王明",
      "陈奶奶",
      "周掌柜",
      "Anna",
      "Tom",
      "Mr. Hale",
      "the fisherman",
      "阿福",
      "小李",
      "老王",
      "赵大海",
    ];
    const looks = new Set(names.map((n) => sha(figurePng(person(n), 240))));
    expect(looks.size).toBe(12);
  });

  test("animals are drawn as their species, not as people", () => {
    const seed = "same-seed";
    const bySpecies = new Map(SPECIES.map((s) => [s, sha(figurePng({ ...person(seed), species: s }, 240))]));
    expect(new Set(bySpecies.values()).size).toBe(SPECIES.length);
    // A person carries a DiceBear head (with its licence in the SVG's metadata); an animal does not.
    expect(figureSvg(person(seed)).includes("dcterms:license")).toBe(true);
    expect(figureSvg({ ...person(seed), species: "fox" }).includes("dcterms:license")).toBe(false);
  });

  test("the fox, the rabbit and the tiger of the fables are drawn as those animals", () => {
    const drawn = (id: string, name: string) => {
      const a = scoreFable(FABLES.find((f) => f.id === id)!).analysis;
      const c = a.characters.find((x) => x.name === name)!;
      expect(c).toBeDefined();
      return { species: c.species, png: sha(figurePng({ ...figureOf(c), style: "openPeeps" }, 240)) };
    };
    const foxes = [drawn("en-fox-crow", "the fox"), drawn("zh-fox-crow", "狐狸")];
    const rabbits = [drawn("en-tortoise-hare", "the hare"), drawn("zh-tortoise-hare", "兔子")];
    const tiger = drawn("zh-scholar-tiger", "老虎");
    expect(foxes.map((f) => f.species)).toEqual(["fox", "fox"]);
    expect(rabbits.map((f) => f.species)).toEqual(["rabbit", "rabbit"]);
    expect(tiger.species).toBe("tiger");
    // Each is its species' drawing for its own seed, and none is a person.
    for (const [name, d] of [
      ["the fox", foxes[0]!],
      ["狐狸", foxes[1]!],
      ["the hare", rabbits[0]!],
      ["兔子", rabbits[1]!],
      ["老虎", tiger],
    ] as const) {
      expect(d.png).toBe(sha(figurePng({ ...person(name), species: d.species }, 240)));
      expect(d.png).not.toBe(sha(figurePng(person(name), 240)));
    }
  });

  test("two characters of one story never share a look", () => {
    for (const f of FABLES) {
      const { analysis } = scoreFable(f);
      const looks = analysis.characters.map((c) => sha(figurePng({ ...figureOf(c), style: "openPeeps" }, 160)));
      expect({ id: f.id, distinct: new Set(looks).size }).toEqual({ id: f.id, distinct: looks.length });
    }
  });

  test("the face follows the shot's mood; the rest of the character stays the same", () => {
    for (const spec of [
      person("王明"),
      { ...person("王明"), style: "lorelei" as const },
      { ...person("狐狸"), species: "fox" as const },
    ]) {
      const faces = new Set(["calm", "happy", "sad", "tense"].map((m) => figureSvg({ ...spec, mood: m as "calm" })));
      expect(faces.size).toBe(4);
      // The same mood gives the same face every time.
      expect(figureSvg({ ...spec, mood: "sad" })).toBe(figureSvg({ ...spec, mood: "sad" }));
      // Everything before the head (legs and body, for a person) is the same in every mood.
      const body = (svg: string) => svg.slice(0, svg.indexOf("<svg x="));
      if (spec.species === "human")
        expect(body(figureSvg({ ...spec, mood: "happy" }))).toBe(body(figureSvg({ ...spec, mood: "sad" })));
    }
  });

  test("the art style picks the people's drawing style", () => {
    expect(peopleStyle("anime")).toBe("lorelei");
    expect(peopleStyle("comic")).toBe("adventurer");
    expect(peopleStyle("manga")).toBe("notionists");
    expect(peopleStyle("夜雨")).toBe("openPeeps");
    expect(sha(figurePng({ ...person("王明"), style: "lorelei" }, 240))).not.toBe(sha(figurePng(person("王明"), 240)));
  });
});
