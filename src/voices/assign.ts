/**
 * Casting: which voice of the library speaks each character, and which one narrates. Pure and
 * deterministic: the library is sorted by voice_id first, so the same characters and the same
 * voices (in any order) always give the same cast.
 */
import type { VoiceInfo } from "../providers/types.ts";

/** What casting reads of a character (see CharacterSchema: gender male|female|unknown, age child|young|adult|elder|unknown). */
export interface CastCharacter {
  name: string;
  gender: string;
  age: string;
  role: string;
}

export interface VoiceAssignment {
  /** The narrator's voice_id. */
  narrator: string;
  /** Each character's voice_id, by name. */
  byCharacter: Record<string, string>;
}

export interface AssignOptions {
  /** The story's language: voices labelled with another language are chosen last among equals. */
  language?: string | null;
}

const ROLE_ORDER: Record<string, number> = { protagonist: 0, antagonist: 1, supporting: 2, minor: 3 };
const AGE_STEP: Record<string, number> = { child: 0, young: 1, adult: 2, middle_aged: 2, elder: 3, old: 3 };
const NARRATION = /narrat|audiobook|storytell/i;

const genderOf = (g: string): "female" | "male" | null => {
  const v = g.trim().toLowerCase();
  return v === "female" || v === "male" ? v : null;
};

/** 0 when the voice's age suits the character's; more the further apart they are. */
function ageFit(characterAge: string, voice: VoiceInfo): number {
  const want = AGE_STEP[characterAge.trim().toLowerCase()];
  const have = voice.age === null ? undefined : AGE_STEP[voice.age];
  // Age unknown: any ordinary voice will do; a child's or an old voice would be a choice the story did not make.
  if (want === undefined) return have === 0 || have === 3 ? 1 : 0;
  if (have === undefined) return 1;
  return 2 * Math.abs(want - have);
}

const narrationVoice = (v: VoiceInfo) => NARRATION.test(v.labels.use_case ?? "");
const otherLanguage = (v: VoiceInfo, language: string | null | undefined) =>
  language && v.language && !v.language.toLowerCase().startsWith(language.toLowerCase()) ? 1 : 0;

/** Lexicographic comparison of score tuples. */
function better(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

/**
 * Gives every character a voice and picks the narrator's:
 * - a character of known gender gets a voice of that gender, else a neutral or unlabelled one,
 *   and one of the other gender only when the library has nothing else;
 * - within that, an unused voice before a used one (so characters get distinct voices while the
 *   library lasts, and voices are reused round-robin, the least used first, once it does not),
 *   then the closest age; characters of unknown gender are spread over the voices' genders; then
 *   the story's language;
 * - main characters (protagonist, antagonist, supporting, minor, then in the given order) choose first;
 * - the narrator gets a voice no character has when one is left (a narration voice preferred), else
 *   the least used one.
 * `taken` fixes voices already chosen (a character keeping its voice, the narrator's): they are
 * kept as they are and count as used. Throws a RangeError when a voice is needed and the library is empty.
 */
export function assignVoices(
  characters: CastCharacter[],
  voices: VoiceInfo[],
  taken: Partial<VoiceAssignment> = {},
  options: AssignOptions = {},
): VoiceAssignment {
  const seen = new Set<string>();
  const library = [...voices]
    .sort((a, b) => (a.voice_id < b.voice_id ? -1 : a.voice_id > b.voice_id ? 1 : 0))
    .filter((v) => !seen.has(v.voice_id) && seen.add(v.voice_id));
  const uses = new Map<string, number>();
  const use = (id: string) => uses.set(id, (uses.get(id) ?? 0) + 1);
  // A Map, not an object: a character may be called "constructor" or "__proto__".
  const byCharacter = new Map<string, string>();
  for (const [name, id] of Object.entries(taken.byCharacter ?? {})) {
    byCharacter.set(name, id);
    use(id);
  }
  if (taken.narrator) use(taken.narrator);
  const need = () => {
    if (library.length === 0) throw new RangeError("the voice library is empty: there is no voice to cast");
  };

  // How many characters already speak with voices of each gender: characters of unknown gender are spread across them.
  const genderUses = new Map<string, number>();
  const genderKey = (v: VoiceInfo | undefined) => v?.gender ?? "unlabelled";
  const byId = new Map(library.map((v) => [v.voice_id, v]));
  for (const id of byCharacter.values())
    genderUses.set(genderKey(byId.get(id)), (genderUses.get(genderKey(byId.get(id))) ?? 0) + 1);
  const order = characters
    .map((c, i) => ({ c, i }))
    .sort((a, b) => (ROLE_ORDER[a.c.role] ?? 4) - (ROLE_ORDER[b.c.role] ?? 4) || a.i - b.i);
  for (const { c } of order) {
    if (byCharacter.has(c.name)) continue;
    need();
    const gender = genderOf(c.gender);
    let best: VoiceInfo | null = null;
    let bestScore: number[] = [];
    for (const [index, v] of library.entries()) {
      const mismatch = gender !== null && v.gender !== null && v.gender !== "neutral" && v.gender !== gender ? 1 : 0;
      const genderFit = gender !== null && v.gender !== gender ? 1 : 0;
      const spread = gender === null ? (genderUses.get(genderKey(v)) ?? 0) : 0;
      const score = [
        mismatch,
        uses.get(v.voice_id) ?? 0,
        genderFit + ageFit(c.age, v),
        spread,
        otherLanguage(v, options.language),
        narrationVoice(v) ? 1 : 0,
        index,
      ];
      if (!best || better(score, bestScore)) {
        best = v;
        bestScore = score;
      }
    }
    byCharacter.set(c.name, best!.voice_id);
    use(best!.voice_id);
    genderUses.set(genderKey(best!), (genderUses.get(genderKey(best!)) ?? 0) + 1);
  }

  let narrator = taken.narrator;
  if (!narrator) {
    need();
    let bestScore: number[] = [];
    for (const [index, v] of library.entries()) {
      const score = [
        uses.get(v.voice_id) ?? 0,
        narrationVoice(v) ? 0 : 1,
        otherLanguage(v, options.language),
        v.age === "child" ? 1 : 0,
        index,
      ];
      if (!narrator || better(score, bestScore)) {
        narrator = v.voice_id;
        bestScore = score;
      }
    }
  }
  return { narrator: narrator!, byCharacter: Object.fromEntries(byCharacter) };
}
