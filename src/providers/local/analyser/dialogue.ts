/**
 * Dialogue: quotations, who says them, and the narration around them. Attribution is read from
 * the clause next to a quote ("林小雨说：", "said Anna"); pronouns resolve to a named person of
 * that gender; unattributed lines alternate between the two people talking.
 */
import { addPerson, canonical, genderOf, mentionsIn, noteLine, noteNarration, type Registry } from "./characters.ts";
import { hasLetters, type Lang, splitSentences } from "./language.ts";
import {
  EN_ROLE_ADJECTIVES,
  EN_ROLES,
  enRole,
  type Gender,
  looksLikeEnName,
  zhNameAtStart,
  zhRoleAtStart,
} from "./names.ts";

export type Piece = { kind: "text" | "quote"; text: string };
export interface Paragraph {
  text: string;
  pieces: Piece[];
}

const PAIRS: Record<string, string> = { "「": "」", "『": "』", "“": "”", "‘": "’", '"': '"' };

/** A straight or curly single quote opens a quotation only at a word start (not "Anna's"). */
const opensSingle = (text: string, i: number) =>
  (i === 0 || /[\s([—–-]/.test(text[i - 1]!)) && /\S/.test(text[i + 1] ?? "");

function closingAt(text: string, from: number, close: string): number {
  for (let j = from; j < text.length; j++) {
    if (text[j] !== close) continue;
    // A single-quote closer is not an apostrophe: no letter follows it.
    // ...and it follows the quotation's punctuation ("'Hello,' said Anna" but not "the boys' bus").
    if (
      (close === "'" || close === "’") &&
      (/\p{L}/u.test(text[j + 1] ?? "") || (j + 1 < text.length && !/[.,!?…;:—–-]/.test(text[j - 1] ?? "")))
    )
      continue;
    return j;
  }
  return -1;
}

/** Splits a paragraph into narration and quotations (top level only; nested quotes stay inside). */
export function parseParagraph(text: string): Paragraph {
  const pieces: Piece[] = [];
  let start = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const close = PAIRS[c] ?? (c === "'" && opensSingle(text, i) ? "'" : undefined);
    if (!close || (c === "‘" && !opensSingle(text, i))) {
      i++;
      continue;
    }
    const j = closingAt(text, i + 1, close);
    if (start < i && text.slice(start, i).trim()) pieces.push({ kind: "text", text: text.slice(start, i) });
    // An unclosed quotation runs to the end of the paragraph (English multi-paragraph speech).
    const end = j < 0 ? text.length : j;
    pieces.push({ kind: "quote", text: text.slice(i + 1, end) });
    i = end + 1;
    start = i;
  }
  if (start < text.length && text.slice(start).trim()) pieces.push({ kind: "text", text: text.slice(start) });
  return { text, pieces };
}

interface Who {
  name?: string;
  pronoun?: Exclude<Gender, "unknown">;
  /** "又说", "she added": the same speaker goes on. */
  continuing: boolean;
  manner: string;
}

const ZH_VERB =
  "(?:低声道|轻声道|柔声道|笑着说|说道|问道|答道|笑道|喊道|叫道|叹道|骂道|嚷道|吼道|回答道|回答|追问|反问|嘟囔|嘀咕|喊|嚷|说|(?:道|问|叫|答|叹|骂|吼)(?=[。，,：:！!？?…\\s”」]|$|了|着))";
// The run may cross one comma: "”王明抬起头，惊讶地问。"
const ZH_AFTER = new RegExp(
  `^\\s*[，,]?\\s*([^。！？!?；;，,：:“”「」『』"]{0,12}(?:[，,][^。！？!?；;，,：:“”「」『』"]{0,8})??)${ZH_VERB}`,
  "u",
);
const ZH_BEFORE = new RegExp(`^(.*?)${ZH_VERB}(?:了|着)?$`, "u");
const ZH_LEAD =
  /^(?:这时候|这时|于是|然后|接着|随后|只见|但是|可是|不过|而且|而|便|就|忽然|突然|终于|最后|此时|那时|原来|后来|当时|同时|这才|说完|听了|听完|见状|闻言|一旁的|旁边的)+/u;

const EN_VERB =
  "(?:said|says|asked|asks|replied|whispered|shouted|cried|called|answered|muttered|added|exclaimed|yelled|laughed|sighed|murmured|continued|began|snapped|insisted|explained|repeated|admitted|agreed|demanded|declared|warned|wondered|protested|growled|pleaded|screamed|gasped|breathed|told|went on)";
const EN_NAME =
  "(?:(?:Mr|Mrs|Ms|Dr)\\.?\\s+|(?:Miss|Sir|Lady|Aunt|Uncle|Grandma|Grandpa)\\s+)?[A-Z][a-zA-Z'’-]+(?:\\s+[A-Z][a-zA-Z'’-]+)?";
const EN_ROLE = `[Tt]he\\s+(?:(?:${EN_ROLE_ADJECTIVES})\\s+)?(?:${Object.keys(EN_ROLES).join("|")})`;
const EN_WHO = `${EN_ROLE}|${EN_NAME}|[Hh]e|[Ss]he`;
const EN_AFTER = new RegExp(
  `^\\s*,?\\s*(?:${EN_VERB}\\s+(${EN_WHO})\\b|(${EN_WHO})\\s+(?:[a-z]+ly\\s+)?${EN_VERB}\\b)`,
  "u",
);
const EN_BEFORE = new RegExp(
  `(?:^|\\s)(${EN_WHO})\\s+(?:[a-z]+ly\\s+)?${EN_VERB}(?:\\s+[\\w'’]+){0,4}?\\s*[,:]?\\s*$`,
  "u",
);
/** "…and said, ": the verb ends the sentence but its subject opened it. */
const EN_VERB_END = new RegExp(`(?:\\s+and)?\\s+${EN_VERB}(?:\\s+[\\w'’]+){0,4}?\\s*[,:]?\\s*$`, "u");
const EN_SUBJECT = new RegExp(`^(${EN_WHO})\\b`, "u");
const EN_CONTINUING = /\b(?:added|continued|went on|repeated)\b/;

function zhWho(run: string, reg: Registry, manner: string): Who | undefined {
  const continuing = /又|接着|继续|还/.test(run);
  const r = run.replace(ZH_LEAD, "").trim();
  if (!r) return undefined;
  const known = mentionsIn(reg, r)[0];
  if (known && known.at === 0) return { name: known.name, continuing, manner };
  if (/^(?:他|她)的/.test(r)) {
    const role = zhRoleAtStart(r.slice(2));
    return role ? { name: role, continuing, manner } : undefined;
  }
  const pronoun = /^(他|她)(?!们)/.exec(r)?.[1];
  if (pronoun) return { pronoun: pronoun === "他" ? "male" : "female", continuing, manner };
  const role = zhRoleAtStart(r);
  if (role) return { name: role, continuing, manner };
  const name = zhNameAtStart(r);
  if (name) return { name, continuing, manner };
  // "坐在窗边的王明说": a known name later in the clause.
  const later = mentionsIn(reg, r).at(-1);
  return later ? { name: later.name, continuing, manner } : undefined;
}

function enWho(subject: string, reg: Registry, manner: string): Who | undefined {
  const continuing = EN_CONTINUING.test(manner);
  const lower = subject.toLowerCase();
  if (lower === "he" || lower === "she") return { pronoun: lower === "he" ? "male" : "female", continuing, manner };
  const role = subject.replace(/^The\b/, "the").replace(/\s+/g, " ");
  if (enRole(role)) return { name: role, continuing, manner };
  const name = subject.replace(/[’']s$/, "");
  if (canonical(reg, name)) return { name, continuing, manner };
  // "said Anna Then…" cannot happen (clauses end at "."), but "Anna Grey" may be new.
  if (looksLikeEnName(name)) return { name, continuing, manner };
  const first = name.split(/\s+/)[0]!;
  return looksLikeEnName(first) ? { name: first, continuing, manner } : undefined;
}

interface Found {
  who: Who;
  /** The span of the neighbouring narration piece that is only attribution, removed from narration. */
  piece: number;
  start: number;
  end: number;
}

const ZH_CLAUSE_END = /[。！？!?；;，,：:]/u;

/** Attribution in the narration right after quote `q` ("林小雨笑着说。", ", said Anna."). */
function after(pieces: Piece[], q: number, reg: Registry, lang: Lang): Found | undefined {
  const next = pieces[q + 1];
  if (next?.kind !== "text") return undefined;
  const t = next.text;
  if (lang === "zh") {
    const m = ZH_AFTER.exec(t);
    if (!m) return undefined;
    const rest = t.slice(m[0].length);
    const stop = rest.search(ZH_CLAUSE_END);
    const clauseEnd = stop < 0 ? t.length : m[0].length + stop + 1;
    // "王明说：" before another quote introduces that quote instead.
    if (/[：:]\s*$/.test(t.slice(0, clauseEnd)) && pieces[q + 2]?.kind === "quote") return undefined;
    const who = zhWho(m[1]!, reg, t.slice(0, clauseEnd));
    return who && { who, piece: q + 1, start: 0, end: clauseEnd };
  }
  const m = EN_AFTER.exec(t);
  if (!m) return undefined;
  const who = enWho((m[1] ?? m[2])!, reg, m[0]);
  if (!who) return undefined;
  const stop = t.slice(m[0].length).search(/[.!?;](?:\s|$)/);
  const sentenceEnd = stop < 0 ? t.length : m[0].length + stop + 1;
  // ", smiling." and "to the fisherman" go with the attribution; ", and he left the room." is narration.
  const rest = t.slice(m[0].length, sentenceEnd).replace(/^[\s,;]+/, "");
  const end =
    /^(?:and|then|before|as|while)\b/.test(rest) && (rest.match(/[A-Za-z]+/g) ?? []).length >= 4
      ? m[0].length
      : sentenceEnd;
  return { who, piece: q + 1, start: 0, end };
}

const ZH_ADDRESSEE = /^(?:对着|对|向|朝|跟|冲着|冲)/u;

/** The subject of the last clause of a sentence that opens with a known name or a role noun. */
function clauseSubject(sentence: string, reg: Registry): string | undefined {
  const clauses = sentence.split(/[，,]/u).map((c) => c.replace(ZH_LEAD, "").trim());
  for (const c of clauses.reverse()) {
    const known = mentionsIn(reg, c)[0];
    if (known && known.at === 0) return known.name;
    if (ZH_ADDRESSEE.test(c)) continue;
    const role = zhRoleAtStart(c);
    if (role) return canonical(reg, role) ?? role;
  }
  return undefined;
}

/** Attribution in the narration right before quote `q` ("林小雨说：", "Anna said, "). */
function before(pieces: Piece[], q: number, reg: Registry, lang: Lang): Found | undefined {
  const prev = pieces[q - 1];
  if (prev?.kind !== "text") return undefined;
  const t = prev.text;
  const tail = t.replace(/[\s：:，,]+$/u, "");
  if (lang === "zh") {
    const sentenceStart = Math.max(...["。", "！", "？", "!", "?", "；", ";", "…"].map((p) => tail.lastIndexOf(p))) + 1;
    const clauseStart = Math.max(sentenceStart, tail.lastIndexOf("，") + 1, tail.lastIndexOf(",") + 1);
    const m = ZH_BEFORE.exec(tail.slice(clauseStart));
    if (!m) return undefined;
    // "对金鱼说": whom the line is said to, not who says it.
    let who = m[1] && !ZH_ADDRESSEE.test(m[1].trim()) ? zhWho(m[1], reg, tail.slice(clauseStart)) : undefined;
    // "林小雨推开门，说：", "老虎跳了出来，吼道：": the subject is an earlier clause's.
    if (!who) {
      const sentence = tail.slice(sentenceStart);
      const subject = clauseSubject(sentence, reg) ?? mentionsIn(reg, sentence)[0]?.name;
      const pronoun = /^(?:[^，。]{0,4}?)(他|她)(?!们)/.exec(sentence)?.[1];
      if (subject) who = { name: subject, continuing: /又|接着|继续/.test(m[1] ?? ""), manner: sentence };
      else if (pronoun) who = { pronoun: pronoun === "他" ? "male" : "female", continuing: false, manner: sentence };
    }
    return who && { who, piece: q - 1, start: clauseStart, end: t.length };
  }
  // The last sentence, found by the splitter so that "Mrs." does not end one.
  const last = splitSentences(tail).at(-1) ?? "";
  const sentenceStart = Math.max(tail.lastIndexOf(last), 0);
  const sentence = tail.slice(sentenceStart);
  const m = EN_BEFORE.exec(sentence);
  if (m) {
    const who = enWho(m[1]!, reg, sentence);
    return who && { who, piece: q - 1, start: sentenceStart + m.index, end: t.length };
  }
  const verb = EN_VERB_END.exec(sentence);
  if (!verb) return undefined;
  const lead = sentence.trimStart();
  const known = mentionsIn(reg, lead)[0];
  const subject = known && known.at === 0 ? known.name : EN_SUBJECT.exec(lead)?.[1];
  const who = subject ? enWho(subject, reg, sentence) : undefined;
  return who && { who, piece: q - 1, start: sentenceStart + verb.index, end: t.length };
}

/** Attributions of every quote of a paragraph, by piece index. */
export function attributions(p: Paragraph, reg: Registry, lang: Lang): Map<number, Found> {
  const out = new Map<number, Found>();
  p.pieces.forEach((piece, q) => {
    if (piece.kind !== "quote") return;
    const found = before(p.pieces, q, reg, lang) ?? after(p.pieces, q, reg, lang);
    if (found) out.set(q, found);
  });
  return out;
}

/** Registers the people named in attributions (a name that speaks is a character). */
export function discoverSpeakers(paragraphs: Paragraph[], reg: Registry, lang: Lang): void {
  for (const p of paragraphs) {
    if (!p.pieces.some((x) => x.kind === "quote")) continue;
    for (const f of attributions(p, reg, lang).values()) if (f.who.name) addPerson(reg, f.who.name);
  }
}

export type Beat =
  | { kind: "narration"; text: string; names: string[]; para: number }
  | { kind: "line"; text: string; speaker: string; names: string[]; para: number };

/** Who was talking and who was mentioned lately: what pronouns and bare quotes resolve against. */
export interface TalkState {
  /** Most recently mentioned or speaking first. */
  recent: string[];
  /** The last speakers of the current scene, most recent first. */
  exchange: string[];
  scene: Set<string>;
  /** Who the narration is about: what a sentence-initial "她"/"he" refers to. */
  subject?: string;
  /** Whether narration has named a subject since the last line. */
  narrated?: boolean;
}

export const createTalk = (): TalkState => ({ recent: [], exchange: [], scene: new Set() });

const touch = (talk: TalkState, name: string) => {
  const i = talk.recent.indexOf(name);
  if (i >= 0) talk.recent.splice(i, 1);
  talk.recent.unshift(name);
  if (talk.recent.length > 50) talk.recent.length = 50;
  talk.scene.add(name);
};

export const unknownSpeaker = (lang: Lang) => (lang === "zh" ? "未知" : "Unknown");

function cleanNarration(text: string, lang: Lang): string {
  let t = text.replace(/\s+/g, lang === "zh" ? "" : " ").replace(/^(?:[\s，,、：:;；.。]|and\b|then\b)+/u, "");
  if (lang === "en") t = t.charAt(0).toUpperCase() + t.slice(1);
  t = t.replace(/(?:[\s，,：:、]|\band|然后)+$/u, "");
  if (!hasLetters(t)) return "";
  return /[。！？!?….”"」』’)）]$/.test(t) ? t : t + (lang === "zh" ? "。" : ".");
}

function cleanQuote(text: string, lang: Lang): string {
  const t = text.trim().replace(/[，,]$/, lang === "zh" ? "。" : ".");
  return hasLetters(t) ? t : "";
}

/**
 * Turns a scene's paragraphs into beats: narration sentences (with the people they name) and
 * dialogue lines (with their speaker), counting mentions, lines and gender evidence as it goes.
 */
export function scriptScene(paragraphs: Paragraph[], reg: Registry, talk: TalkState, lang: Lang): Beat[] {
  talk.exchange = [];
  talk.scene = new Set();
  const beats: Beat[] = [];
  const genderMatches = (name: string, g: Gender) => {
    const p = reg.people.get(name);
    return p !== undefined && genderOf(p) === g;
  };
  const inScene = () => talk.recent.filter((n) => talk.scene.has(n));
  // The other person of the exchange; nobody when there is no one else to answer.
  const alternate = (): string | undefined => {
    if (talk.exchange.length >= 2) return talk.exchange[1];
    const last = talk.exchange[0];
    return inScene().find((n) => n !== last);
  };
  paragraphs.forEach((p, para) => {
    const found = attributions(p, reg, lang);
    const cuts = new Map<number, Array<[number, number]>>();
    for (const f of found.values()) cuts.set(f.piece, [...(cuts.get(f.piece) ?? []), [f.start, f.end]]);
    const paraNames: string[] = [];
    // Everyone the paragraph's narration names: "“…” Anna put down her cup." gives the line to Anna.
    const named = [
      ...new Set(p.pieces.flatMap((x) => (x.kind === "text" ? mentionsIn(reg, x.text).map((m) => m.name) : []))),
    ];
    let lastInPara: string | undefined;
    p.pieces.forEach((piece, i) => {
      if (piece.kind === "text") {
        let text = piece.text;
        const ranges = (cuts.get(i) ?? []).sort((a, b) => b[0] - a[0]);
        for (const [s, e] of ranges) text = `${text.slice(0, s)} ${text.slice(e)}`;
        const sentences = splitSentences(text)
          .map((s) => cleanNarration(s, lang))
          .filter(Boolean);
        sentences.forEach((s, k) => {
          const ms = mentionsIn(reg, s);
          noteNarration(reg, s, ms, sentences[k + 1]);
          // "她推开门": the sentence's subject is the last subject of that gender, or the last one seen.
          const opening =
            lang === "zh"
              ? /^(?:[^，。]{0,3}?)(?<![在着给把对向看和跟让叫被帮替])(他|她)(?!们)/.exec(s)
              : /^(he|she)\b/i.exec(s);
          const pronoun = opening?.[1]?.toLowerCase();
          const g: Gender | undefined = pronoun === "他" || pronoun === "he" ? "male" : pronoun ? "female" : undefined;
          const who =
            g &&
            (talk.subject && genderMatches(talk.subject, g)
              ? talk.subject
              : inScene().find((n) => genderMatches(n, g)));
          const names = [...new Set([...(who ? [who] : []), ...ms.map((m) => m.name)])];
          const lead = ms[0] && ms[0].at <= (lang === "zh" ? 12 : 30) ? ms[0].name : undefined;
          // A name before the pronoun is the subject ("王明看着她" is about 王明).
          const nameFirst = lead !== undefined && opening !== null && ms[0]!.at < opening[0].length;
          talk.subject = (nameFirst ? lead : who || lead) || talk.subject;
          if (who || lead) talk.narrated = true;
          for (const n of [...names].reverse()) touch(talk, n);
          paraNames.push(...names);
          beats.push({ kind: "narration", text: s, names, para });
        });
        return;
      }
      const text = cleanQuote(piece.text, lang);
      if (!text) return;
      const who = found.get(i)?.who;
      let speaker: string | undefined;
      if (who?.name) speaker = canonical(reg, who.name) ?? addPerson(reg, who.name);
      else if (who?.pronoun) {
        const g = who.pronoun;
        const last = talk.exchange[0];
        const local = [...paraNames].reverse().find((n) => genderMatches(n, g));
        if (local) speaker = local;
        // Narration since the last line made someone its subject: "她把车票放进口袋。“…”她说。"
        else if (talk.narrated && talk.subject && genderMatches(talk.subject, g)) speaker = talk.subject;
        else if (who.continuing && last && genderMatches(last, g)) speaker = last;
        else {
          const pool = inScene().filter((n) => genderMatches(n, g));
          const candidates = pool.length ? pool : talk.recent.filter((n) => genderMatches(n, g));
          speaker = candidates[0] === last && candidates[1] ? candidates[1] : (candidates[0] ?? alternate());
        }
      } else {
        const distinct = [...new Set(paraNames)];
        speaker =
          lastInPara ??
          (distinct.length === 1 ? distinct[0] : distinct.length === 0 && named.length === 1 ? named[0] : alternate());
      }
      if (speaker) {
        noteLine(reg, speaker, text, found.get(i)?.who.manner ?? "");
        touch(talk, speaker);
        talk.subject = speaker;
        talk.narrated = false;
        if (talk.exchange[0] !== speaker)
          talk.exchange = [speaker, ...talk.exchange.filter((n) => n !== speaker)].slice(0, 2);
        lastInPara = speaker;
      }
      beats.push({
        kind: "line",
        text,
        speaker: speaker ?? unknownSpeaker(lang),
        names: speaker ? [speaker] : [],
        para,
      });
    });
  });
  return beats;
}
