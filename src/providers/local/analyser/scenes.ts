/** Where and when a scene happens and how it feels, from keywords in its text. */
import { MOOD_VALUES, type TimeOfDay } from "../../../story/schemas.ts";
import type { Mood } from "../../types.ts";
import type { Lang } from "./language.ts";

const ZH_PLACE =
  "房间|厨房|卧室|客厅|书房|办公室|教室|医院|学校|公园|广场|市场|商店|咖啡馆|酒吧|餐厅|图书馆|车站|机场|码头|森林|山顶|山洞|海边|河边|湖边|院子|小巷|" +
  "房|室|屋|殿|厅|堂|店|馆|楼|院|街|路|山|河|湖|村|城|镇|门|桥|站|场|园|林|海|岛|宫|府|寺|庙|车|船|校|厂|港|湾|江|谷|洞|营|寨|阁|亭|台|廊|巷|铺|坊|庄|塔|间|家|局|所";
const ZH_LOCATION = new RegExp(
  `(?:回到|来到|走进|进入|离开|穿过|沿着|站在|坐在|住在|躲在|跑进|冲进|抵达|赶到|位于|走出|到了|在|到|进|去|往|出了|有)了?((?:[\\p{Script=Han}]{1,6}?)(?:${ZH_PLACE}))(?=[里内中外上下前后边旁口的慢走跑坐等看散逛去来，。、！？；：,.!?\\s]|$)`,
  "gu",
);
/** Without a verb: "小镇的火车站里…" at the start of a clause. */
const ZH_PLACE_INSIDE = new RegExp(`(?:^|[，。！？；、\\s])([\\p{Script=Han}]{1,6}?(?:${ZH_PLACE}))(?=[里内中])`, "u");
const ZH_MEASURE = /^(?:了|这|那|一)?(?:个|家|座|间|条|片|所|栋|辆|艘|处)?/u;

const EN_PLACE =
  "kitchen|room|bedroom|house|home|station|harbour|harbor|market|street|road|lane|forest|woods|river|lake|sea|beach|shore|village|town|city|castle|palace|temple|church|" +
  "inn|tavern|shop|store|cafe|café|library|school|classroom|garden|park|hall|tower|bridge|gate|office|hospital|train|ship|boat|cave|mountain|hill|field|farm|barn|cellar|" +
  "attic|lighthouse|square|bar|restaurant|hotel|airport|port|dock|pier|island|camp|courtyard|yard|porch|study|corridor|roof|platform|cottage|cabin|valley|desert|battlefield|ward|bakery";
const EN_LOCATION = new RegExp(
  `\\b(?:in|at|into|inside|to|toward|towards|onto|near|outside|across|through|of|up|reached|entered|left|climbed)\\s+(?:the|a|an|her|his|their|our|my)\\s+((?:[a-z]+[\\s-]){0,2}?(?:${EN_PLACE}))\\b`,
  "gi",
);

/** The first place named in the text, or undefined. */
export function locationOf(text: string, lang: Lang): string | undefined {
  if (lang === "zh") {
    ZH_LOCATION.lastIndex = 0;
    for (let m = ZH_LOCATION.exec(text); m; m = ZH_LOCATION.exec(text)) {
      const place = m[1]!.replace(ZH_MEASURE, "") || m[1]!;
      // A lone "门" or "路" names no place.
      if (place.length >= 2 && !/^[他她它我你]/.test(place)) return place;
    }
    const inside = ZH_PLACE_INSIDE.exec(text)?.[1];
    return inside && inside.length >= 2 ? inside : undefined;
  }
  EN_LOCATION.lastIndex = 0;
  const m = EN_LOCATION.exec(text);
  return m ? m[1]!.toLowerCase().replace(/\s+/g, " ") : undefined;
}

export const unknownPlace = (lang: Lang) => (lang === "zh" ? "未知地点" : "unknown place");

const TIMES: Record<Lang, Array<[TimeOfDay, RegExp]>> = {
  zh: [
    ["dawn", /清晨|黎明|拂晓|破晓|早上|早晨|一早|天刚亮|天亮|日出|晨光|朝阳/u],
    ["day", /中午|正午|午后|下午|白天|白昼|烈日/u],
    ["dusk", /傍晚|黄昏|日落|夕阳|落日|晚霞|暮色/u],
    ["night", /深夜|半夜|午夜|(?<![一整昨])夜|晚上|当晚|今晚|那晚|月光|月亮|月色|星光/u],
  ],
  en: [
    ["dawn", /\b(?:dawn|sunrise|daybreak|morning|first light)\b/i],
    ["day", /\b(?:noon|midday|afternoon|daylight)\b/i],
    ["dusk", /\b(?:dusk|sunset|twilight|evening|nightfall)\b/i],
    ["night", /\b(?:night|midnight|moon|moonlight|tonight)\b/i],
  ],
};

/** The time of day named earliest in the text, or undefined. */
export function timeOf(text: string, lang: Lang): TimeOfDay | undefined {
  let best: TimeOfDay | undefined;
  let at = Infinity;
  for (const [time, re] of TIMES[lang]) {
    const i = text.search(re);
    if (i >= 0 && i < at) {
      at = i;
      best = time;
    }
  }
  return best;
}

type Scored = Exclude<Mood, "calm">;
const MOODS: Record<Lang, Record<Scored, RegExp>> = {
  zh: {
    happy: /笑|开心|高兴|快乐|欢喜|喜悦|兴奋|幸福|温暖/gu,
    sad: /泪|哭|悲|伤心|难过|痛苦|哀|心碎|孤独|失落|告别/gu,
    tense: /危险|紧张|尖叫|杀|追|逃|血|枪|惊恐|害怕|恐惧|颤抖|慌/gu,
    epic: /战|军队|大军|千军|英雄|王国|征战|号角|旗帜|冲锋/gu,
    mysterious: /神秘|秘密|影子|黑影|奇怪|诡异|谜|低语|雾|古老/gu,
  },
  en: {
    happy: /\b(?:laugh\w*|smil\w*|happy|happily|joy\w*|cheer\w*|delight\w*|grin\w*)\b/gi,
    sad: /\b(?:tears?|cr(?:y|ied|ies)|wept|weep\w*|sad\w*|sorrow\w*|grief|griev\w*|mourn\w*|lonely)\b/gi,
    tense: /\b(?:danger\w*|scream\w*|kill\w*|blood\w*|gun|knife|chas\w*|fear\w*|afraid|panic\w*|trembl\w*)\b/gi,
    epic: /\b(?:battle\w*|arm(?:y|ies)|war|wars|legions?|heroe?s?|kingdoms?|banners?|glory)\b/gi,
    mysterious: /\b(?:myster\w*|secrets?|shadows?|strange\w*|whisper\w*|fog|mist|ancient|unknown)\b/gi,
  },
};

export type MoodScores = Record<Mood, number>;

export const emptyMoods = (): MoodScores => Object.fromEntries(MOOD_VALUES.map((m) => [m, 0])) as MoodScores;

export function moodScores(text: string, lang: Lang): MoodScores {
  const scores = emptyMoods();
  for (const [mood, re] of Object.entries(MOODS[lang]) as Array<[Scored, RegExp]>)
    scores[mood] = text.match(re)?.length ?? 0;
  return scores;
}

/** The highest-scoring mood; ties go to the stronger feeling (tense over sad over …); none → calm. */
export function moodOf(scores: MoodScores): Mood {
  let best: Mood = "calm";
  for (const mood of ["tense", "epic", "sad", "mysterious", "happy"] as const)
    if (scores[mood] > (best === "calm" ? 0 : scores[best])) best = mood;
  return best;
}
