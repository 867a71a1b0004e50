/** The cast: who is named, how they are referred to, their gender, and how much they speak. */
import type { Character } from "../../../story/schemas.ts";
import { clip, type Lang } from "./language.ts";
import {
  type Age,
  EN_ROLE_ADJECTIVES,
  EN_ROLES,
  EN_STOPWORDS,
  EN_TITLES,
  enRole,
  type Gender,
  looksLikeEnName,
  looksLikeZhName,
  type RoleInfo,
  ZH_TITLES,
  zhNameCandidates,
  zhRole,
  zhRoleAtStart,
} from "./names.ts";

export interface Person {
  name: string;
  aliases: string[];
  lines: number;
  mentions: number;
  /** Order of first appearance, for stable sorting. */
  order: number;
  /** Pronoun evidence: how often "he"/"she" continues a sentence about the person. */
  male: number;
  female: number;
  /** From a title or role noun ("Mrs.", "奶奶", "老人"): stronger than pronouns. */
  titled?: RoleInfo;
  first: string;
  look: string;
  laugh: number;
  ask: number;
  exclaim: number;
}

interface Candidate {
  count: number;
  /** English: times followed by a verb-like word; times mid-sentence; times after a preposition. */
  subject: number;
  mid: number;
  prep: number;
}

export interface Registry {
  lang: Lang;
  people: Map<string, Person>;
  /** Alias → canonical name. */
  aliasOf: Map<string, string>;
  candidates: Map<string, Candidate>;
  matcher?: RegExp;
}

export const createRegistry = (lang: Lang): Registry => ({
  lang,
  people: new Map(),
  aliasOf: new Map(),
  candidates: new Map(),
});

/** Words that can never be a character, whatever the patterns say. */
const NEVER = new Set([
  "他",
  "她",
  "它",
  "他们",
  "她们",
  "我",
  "你",
  "我们",
  "你们",
  "he",
  "she",
  "it",
  "they",
  "we",
  "you",
  "i",
  "him",
  "her",
]);

/** The canonical name for a name or alias, if known. */
export function canonical(reg: Registry, s: string): string | undefined {
  if (reg.people.has(s)) return s;
  return reg.aliasOf.get(s);
}

/** Adds a person (no-op if known); returns the canonical name, or undefined for a pronoun. */
export function addPerson(reg: Registry, name: string): string | undefined {
  const known = canonical(reg, name);
  if (known) return known;
  if (NEVER.has(name.toLowerCase()) || name.length > 60) return undefined;
  const titled = (reg.lang === "zh" ? zhRole(name) : enRole(name)) ?? titleOf(name, reg.lang);
  reg.people.set(name, {
    name,
    aliases: [],
    lines: 0,
    mentions: 0,
    order: reg.people.size,
    male: 0,
    female: 0,
    titled,
    first: "",
    look: "",
    laugh: 0,
    ask: 0,
    exclaim: 0,
  });
  // "the fisherman" is "The fisherman" at the start of a sentence.
  if (name.startsWith("the ")) {
    reg.aliasOf.set(`T${name.slice(1)}`, name);
    // "A fox saw her": the first sighting of "the fox".
    const article = /^[aeiou]/.test(name.slice(4)) ? "an" : "a";
    for (const a of [article, `${article[0]!.toUpperCase()}${article.slice(1)}`])
      if (!reg.people.has(`${a} ${name.slice(4)}`)) reg.aliasOf.set(`${a} ${name.slice(4)}`, name);
  }
  reg.matcher = undefined;
  return name;
}

function titleOf(name: string, lang: Lang): { gender: Gender; age: Age } | undefined {
  if (lang === "en") return EN_TITLES[name.split(/\s+/)[0]!];
  for (const [title, info] of Object.entries(ZH_TITLES))
    if (name.length > title.length && name.endsWith(title)) return info;
  return undefined;
}

export function genderOf(p: Person): Gender {
  if (p.titled && p.titled.gender !== "unknown") return p.titled.gender;
  if (p.male > p.female) return "male";
  if (p.female > p.male) return "female";
  return "unknown";
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** One regex matching every name and alias, longest first, so "林小雨" wins over "小雨". */
function matcher(reg: Registry): RegExp | undefined {
  if (reg.matcher) return reg.matcher;
  const all = [...reg.people.keys(), ...reg.aliasOf.keys()].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
  if (all.length === 0) return undefined;
  const body = all.map(escapeRegExp).join("|");
  reg.matcher = reg.lang === "en" ? new RegExp(`(?<![\\p{L}])(?:${body})(?![\\p{L}])`, "gu") : new RegExp(body, "gu");
  return reg.matcher;
}

/** The characters named in `text`, canonical, in order of appearance (repeats kept), with positions. */
export function mentionsIn(reg: Registry, text: string): Array<{ name: string; at: number; end: number }> {
  const re = matcher(reg);
  if (!re) return [];
  re.lastIndex = 0;
  const out: Array<{ name: string; at: number; end: number }> = [];
  for (let m = re.exec(text); m; m = re.exec(text))
    out.push({ name: canonical(reg, m[0])!, at: m.index, end: m.index + m[0].length });
  return out;
}

const EN_VERBISH =
  /^(?:said|asked|was|had|is|has|looked|walked|smiled|laughed|turned|stood|sat|ran|went|came|felt|knew|thought|saw|took|gave|held|opened|closed|nodded|shook|whispered|shouted|replied|answered|cried|could|would|did|will|can|might|must|should)$/;
const EN_PREPOSITIONS = new Set([
  "in",
  "at",
  "to",
  "from",
  "into",
  "of",
  "near",
  "through",
  "the",
  "across",
  "toward",
  "towards",
  "on",
]);

const EN_ROLE_SUBJECT = new RegExp(
  `(?:^|[^A-Za-z])(?:[Tt]he|[Aa]n?)\\s+((?:${EN_ROLE_ADJECTIVES})\\s+)?(${Object.keys(EN_ROLES).join("|")})\\s+([a-z]+)`,
  "g",
);

/**
 * Role nouns and animals that act ("狐狸叼起肉", "the cat yawned"): a character once seen twice as
 * the subject of a verb, counted across chapters. One seen only as scenery ("猎人的家", "the
 * fisherman's hut") never is.
 */
function discoverActingRoles(reg: Registry, sentences: string[]): void {
  const sighted = (name: string, strong: boolean) => {
    if (canonical(reg, name)) return;
    const key = `role:${name}`;
    const c = reg.candidates.get(key) ?? { count: 0, subject: 0, mid: 0, prep: 0 };
    c.count++;
    reg.candidates.set(key, c);
    // Opening a sentence or clause, once is enough ("The young mouse stood up.").
    if (c.count >= 2 || strong) addPerson(reg, name);
  };
  for (const s of sentences) {
    if (reg.lang === "zh") {
      for (const clause of s.split(/[，,。！？!?；;：:“”「」]/u)) {
        const role = zhRoleAtStart(clause);
        if (!role) continue;
        const next = clause[clause.indexOf(role) + role.length] ?? "";
        if (/\p{Script=Han}/u.test(next) && !"的之们".includes(next)) sighted(role, false);
      }
      continue;
    }
    for (const m of s.matchAll(EN_ROLE_SUBJECT)) {
      const next = m[3]!;
      if (EN_VERBISH.test(next) || (/(?:ed|s)$/.test(next) && !EN_PREPOSITIONS.has(next)))
        sighted(`the ${m[1] ?? ""}${m[2]}`, m.index === 0 || /[,;]\s*$/.test(s.slice(0, m.index + 1)));
    }
  }
}

/**
 * Finds names that recur as subjects: Chinese name shapes before a verb, English capitalised
 * words seen mid-sentence and before a verb, mostly not after a preposition (not a place).
 * Counts carry over chapters; a candidate becomes a person on its second sighting.
 */
export function discoverRecurring(reg: Registry, sentences: string[]): void {
  discoverActingRoles(reg, sentences);
  if (reg.lang === "zh") {
    for (const s of sentences) {
      for (const cand of zhNameCandidates(s)) {
        // "王明正(在)": a known name plus the next character is not a new person.
        if (canonical(reg, cand) || containsKnown(reg, cand)) continue;
        const c = reg.candidates.get(cand) ?? { count: 0, subject: 0, mid: 0, prep: 0 };
        c.count++;
        reg.candidates.set(cand, c);
        if (c.count >= 2 && !isPartOfKnown(reg, cand)) addPerson(reg, cand);
      }
    }
    return;
  }
  for (const s of sentences) {
    const words = [...s.matchAll(/[A-Za-z][A-Za-z'’-]*\.?/g)];
    for (let i = 0; i < words.length; i++) {
      let w = words[i]![0].replace(/\.$/, "");
      if (!/^[A-Z][a-z]/.test(w)) continue;
      const start = i;
      // "Anna Grey", "Mr. Grey": consecutive capitalised words make one name.
      if (EN_TITLES[words[i]![0]] && i + 1 < words.length && /^[A-Z][a-z]/.test(words[i + 1]![0]))
        w = `${words[i]![0]} ${words[++i]![0].replace(/\.$/, "")}`;
      else if (
        i + 1 < words.length &&
        /^[A-Z][a-z]+$/.test(words[i + 1]![0]) &&
        !EN_STOPWORDS.has(words[i + 1]![0]) &&
        !EN_STOPWORDS.has(w)
      ) {
        w = `${w} ${words[++i]![0]}`;
      }
      if (!looksLikeEnName(w)) continue;
      const c = reg.candidates.get(w) ?? { count: 0, subject: 0, mid: 0, prep: 0 };
      c.count++;
      if (start > 0) c.mid++;
      const before = start > 0 ? words[start - 1]![0].toLowerCase() : "";
      if (EN_PREPOSITIONS.has(before)) c.prep++;
      const after = (words[i + 1]?.[0] ?? "").replace(/\.$/, "");
      if (EN_VERBISH.test(after) || /^[a-z]+ed$/.test(after)) c.subject++;
      reg.candidates.set(w, c);
      if (
        !canonical(reg, w) &&
        c.count >= 2 &&
        c.mid >= 1 &&
        c.subject >= 1 &&
        c.prep * 2 < c.mid + 1 &&
        !isPartOfKnown(reg, w)
      )
        addPerson(reg, w);
    }
  }
}

/**
 * "said Anna" after "Anna Grey climbed…": a speaker first seen by a given name whose full name
 * came earlier becomes the full name (with the given name as alias). English only; only for
 * people just found (no lines or mentions yet), so nothing already counted is renamed.
 */
export function expandNames(reg: Registry, text: string): void {
  if (reg.lang !== "en") return;
  for (const p of [...reg.people.values()]) {
    if (p.name.includes(" ") || p.lines + p.mentions > 0 || EN_TITLES[p.name]) continue;
    const full = new RegExp(`\\b${escapeRegExp(p.name)}\\s+([A-Z][a-z'’-]+)\\b`).exec(text);
    if (!full || EN_STOPWORDS.has(full[1]!)) continue;
    const alone = new RegExp(`\\b${escapeRegExp(p.name)}\\b(?!\\s+${full[1]})`).exec(text);
    const name = `${p.name} ${full[1]}`;
    if (!alone || alone.index < full.index || reg.people.has(name)) continue;
    reg.people.delete(p.name);
    reg.people.set(name, { ...p, name, aliases: [p.name] });
    reg.aliasOf.set(p.name, name);
    reg.matcher = undefined;
  }
}

function containsKnown(reg: Registry, s: string): boolean {
  for (const name of reg.people.keys()) if (s.includes(name)) return true;
  for (const alias of reg.aliasOf.keys()) if (s.includes(alias)) return true;
  return false;
}

/** "小雨" while "林小雨" is known, or "Anna" while "Anna Grey" is: an alias, not a new person. */
function isPartOfKnown(reg: Registry, s: string): boolean {
  for (const name of reg.people.keys()) if (name !== s && name.includes(s)) return true;
  return false;
}

/**
 * Aliases: the given name used on its own after the full name has appeared ("林小雨" … "小雨",
 * "Anna Grey" … "Anna"). Only names of the obvious shapes, and never one that is someone else.
 */
export function discoverAliases(reg: Registry, text: string): void {
  for (const p of reg.people.values()) {
    let short: string | undefined;
    if (reg.lang === "zh") {
      if (p.name.length === 3 && looksLikeZhName(p.name) && !zhRole(p.name) && !titleOf(p.name, "zh"))
        short = p.name.slice(1);
    } else {
      const words = p.name.split(" ");
      if (words.length === 2 && !EN_TITLES[words[0]!] && looksLikeEnName(p.name)) short = words[0];
    }
    if (!short || short.length < 2 || p.aliases.includes(short) || reg.people.has(short) || reg.aliasOf.has(short))
      continue;
    // The full name must have appeared first: in an earlier chapter, or earlier in this one.
    const full = p.mentions + p.lines > 0 ? 0 : text.indexOf(p.name);
    if (full < 0) continue;
    // The short form on its own (not inside the full name) after the full name.
    const offset = p.name.indexOf(short);
    const alone = (at: number) =>
      !text.startsWith(p.name, at - offset) &&
      (reg.lang === "zh" || !/[A-Za-z]/.test(`${text[at - 1] ?? ""}${text[at + short.length] ?? ""}`));
    let at = text.indexOf(short, full === 0 ? 0 : full + p.name.length);
    while (at >= 0 && !alone(at)) at = text.indexOf(short, at + 1);
    if (at < 0) continue;
    p.aliases.push(short);
    reg.aliasOf.set(short, p.name);
    reg.matcher = undefined;
  }
}

const LOOK =
  /头发|长发|短发|眼睛|眼镜|穿着|衣|裙|帽|个子|高大|瘦|胖|脸|胡子|\b(?:hair|eyes|wore|wearing|dress|coat|hat|tall|thin|beard|face|glasses)\b/i;

/**
 * Notes narration about people: mentions, the first sentence about each (and the first one
 * describing how they look), and gender evidence from the pronoun that continues a sentence
 * about exactly one person ("林小雨推开门，她…" / "Anna opened the door. She…").
 */
export function noteNarration(
  reg: Registry,
  sentence: string,
  names: Array<{ name: string; at: number; end: number }>,
  next: string | undefined,
): void {
  const distinct = [...new Set(names.map((n) => n.name))];
  for (const name of distinct) {
    const p = reg.people.get(name)!;
    if (!p.first) p.first = sentence;
    if (!p.look && LOOK.test(sentence)) p.look = sentence;
  }
  for (const n of names) reg.people.get(n.name)!.mentions++;
  if (distinct.length !== 1) return;
  const p = reg.people.get(distinct[0]!)!;
  const after = sentence.slice(names[0]!.end);
  // The next sentence's pronoun continues the subject: a name near the start of this one.
  const isSubject = names[0]!.at <= (reg.lang === "zh" ? 12 : 30);
  if (!isSubject) next = undefined;
  if (reg.lang === "zh") {
    const title = Object.keys(ZH_TITLES).find((t) => after.startsWith(t));
    if (title && !p.titled) p.titled = ZH_TITLES[title];
    const clause =
      /[，,；;]\s*(他|她)(?!们)/.exec(after)?.[1] ??
      (next ? /^(?:[^，。！？“”「」]{0,4}?)(他|她)(?!们)/.exec(next)?.[1] : undefined);
    if (clause === "他") p.male++;
    else if (clause === "她") p.female++;
    return;
  }
  const own = /\b(his|himself|herself|hers)\b|(?:,|\band)\s+(he|she)\b/i.exec(after);
  const pronoun =
    (own?.[1] ?? own?.[2])?.toLowerCase() ?? (next ? /^(he|she)\b/i.exec(next)?.[1]?.toLowerCase() : undefined);
  if (pronoun === "he" || pronoun === "his" || pronoun === "himself") p.male++;
  else if (pronoun === "she" || pronoun === "herself" || pronoun === "hers") p.female++;
}

/** Trait counts from how a line is said: laughing, asking, exclaiming. */
export function noteLine(reg: Registry, name: string, text: string, manner: string): void {
  const p = reg.people.get(name);
  if (!p) return;
  p.lines++;
  if (/笑|laugh|smil|grin/i.test(manner)) p.laugh++;
  if (/[?？]\s*$/.test(text)) p.ask++;
  if (/[!！]\s*$/.test(text)) p.exclaim++;
}

const AGE_WORDS: Array<[RegExp, Age]> = [
  [
    /老人|老头|老太|白发|年迈|苍老|\b(?:old (?:man|woman|lady)|elderly|grey-haired|gray-haired|white-haired)\b/i,
    "elder",
  ],
  [/孩子|小孩|男孩|女孩|小姑娘|\b(?:child|boy|girl|little (?:boy|girl))\b/i, "child"],
  [/少年|少女|年轻|小伙|学生|\b(?:young (?:man|woman)|teenager|student)\b/i, "young"],
];

function ageOf(p: Person): Age {
  if (p.titled && p.titled.age !== "unknown") return p.titled.age;
  const text = `${p.first} ${p.look}`;
  for (const [re, age] of AGE_WORDS) if (re.test(text)) return age;
  return "unknown";
}

function personality(p: Person, lang: Lang): string {
  if (p.lines < 2) return "";
  const traits: string[] = [];
  if (p.laugh / p.lines >= 0.3) traits.push(lang === "zh" ? "开朗" : "cheerful");
  if (p.ask / p.lines >= 0.4) traits.push(lang === "zh" ? "好奇" : "curious");
  if (p.exclaim / p.lines >= 0.4) traits.push(lang === "zh" ? "情绪外露" : "outspoken");
  return traits.join(lang === "zh" ? "、" : ", ");
}

/** Most lines first, then most mentions, then first to appear. */
export function ranked(people: Person[]): Person[] {
  return [...people].sort((a, b) => b.lines - a.lines || b.mentions - a.mentions || a.order - b.order);
}

/** Schema records with roles by counts: the top speaker leads, regular speakers support. */
export function characterRecords(people: Person[], lang: Lang): Character[] {
  const order = ranked(people);
  const top = order[0];
  return order.map((p) => {
    const role: Character["role"] =
      p === top && p.lines + p.mentions > 0
        ? "protagonist"
        : p.lines >= 2 || p.mentions >= Math.max(3, Math.ceil((top?.mentions ?? 0) / 4))
          ? "supporting"
          : "minor";
    const description = p.look && p.look !== p.first ? `${p.first}${lang === "zh" ? "" : " "}${p.look}` : p.first;
    return {
      name: clip(p.name, 60),
      aliases: [...new Set(p.aliases.map((a) => clip(a, 60)))],
      role,
      gender: genderOf(p),
      age: ageOf(p),
      species: p.titled?.species ?? "human",
      description: clip(description, 1000),
      personality: clip(personality(p, lang), 500),
      lines: p.lines,
    };
  });
}
