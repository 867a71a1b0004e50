/**
 * What a name looks like, without a dictionary: Chinese names are a common surname and one or two
 * given-name characters; English names are capitalised words that are not everyday sentence
 * openers. Kept conservative: a missed name is better than a character called "他" or "The".
 */

import type { Species } from "../../../story/schemas.ts";

export type Gender = "male" | "female" | "unknown";
export type Age = "child" | "young" | "adult" | "elder" | "unknown";
/** What a role noun says of whoever it names; `species` when it names an animal (else a person). */
export interface RoleInfo {
  gender: Gender;
  age: Age;
  species?: Species;
}
const beast = (species: Species): RoleInfo => ({ gender: "unknown", age: "unknown", species });

// Common surnames, minus those that mostly start ordinary words here (成为, 连忙, 常常, 安静, 方向, 边走…).
const SURNAMES = new Set(
  "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵钱覃武戴莫孔汤康施牛樊葛邢乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿兰俞左柳甘柯纪梅童凌季裴霍涂苗谷盛曲翁冉骆蓝游辛靳柴蒙鲍华喻祁蒲滕屈饶牟艾穆农卓古吉缪项芦麦褚娄窦戚岑景卜晏席卫米柏宗瞿桂佟臧闵苟邬卞姬仇栾隋商刁荣巫寇桑郎甄丛仲虞敖巩佘池苑邝鞠惠荆冀郁胥储栗燕楚鄢奚粟冼蔺伊".split(
    "",
  ),
);
const DOUBLE_SURNAMES = [
  "欧阳",
  "司马",
  "诸葛",
  "上官",
  "慕容",
  "东方",
  "独孤",
  "令狐",
  "皇甫",
  "尉迟",
  "公孙",
  "长孙",
  "宇文",
  "司徒",
  "夏侯",
];

/** Characters that do not occur in given names but do follow names (verbs, particles, places). */
const NOT_IN_NAME = new Set(
  "的了着过是在和与也都就又还把被对向朝说道问答喊叫看听想不没一很已刚才便却们这那个些么里上下中边面色天年时候家样种头子手脚身心眼脸门地得儿人走跑站坐笑哭拿推拉打抬转回低皱叹伸握递接停愣来去到进出起开关给让吃喝睡写读房室屋殿厅堂店馆楼院街路村城镇桥站场园岛宫府寺庙车船校他她我你它".split(
    "",
  ),
);
/** ...and these rarely end one, but often start the adverb after it (王明高声说, 王明小声说). */
const NOT_LAST = new Set("高兴冷淡轻慢缓急连赶忽突终随接继顿点摇微苦大小柔厉沉颤朗默静悄".split(""));
/** Surname-initial everyday words that would otherwise pass as names. */
const COMMON_WORDS = new Set(
  "黎明 高兴 高声 高大 高处 江湖 江水 江边 江面 金色 金子 黄色 黄昏 黄金 石阶 石板 夏日 雷声 雷鸣 陆地 钱包 周围 周末 周遭 周身 马上 马车 朱红 胡子 曾经 许多 许久 武器 武功 孔雀 牛奶 熊猫 田野 杨柳 柳树 梅花 桂花 钟声 罗盘 苏醒 王国 王子 王座 程度 余光 余下 杜鹃 肖像 叶片 董事 陈旧 陈设 林间 孙女 谢谢 谢意 郑重 顾客 童年 童话 季节 华丽 岳父 岳母 管家 骆驼 雷电 龙王 史上 伍长 米饭 卫兵 宗门 荣幸 惠及 冀望 燕子 桑树 毛巾 毛衣 戴着 莫名 甘心 左右 孟春 秦朝 唐朝 宋朝 汤匙 康复 乔木 蒙蒙 苗条 古老 古怪 吉祥 景色 席位 柏树 池塘 虞美 纪念 梅雨 凌晨 游戏 辛苦 艾草 穆然 卓越 麦田 任何 何况 何必 何时 龚".split(
    " ",
  ),
);

/** Role nouns that speak in stories ("老人说："): a speaker even without a name. */
export const ROLE_NOUNS: Record<string, RoleInfo> = {
  老太太: { gender: "female", age: "elder" },
  老奶奶: { gender: "female", age: "elder" },
  老妇人: { gender: "female", age: "elder" },
  老爷爷: { gender: "male", age: "elder" },
  老头: { gender: "male", age: "elder" },
  老者: { gender: "male", age: "elder" },
  老人: { gender: "unknown", age: "elder" },
  奶奶: { gender: "female", age: "elder" },
  爷爷: { gender: "male", age: "elder" },
  外婆: { gender: "female", age: "elder" },
  外公: { gender: "male", age: "elder" },
  妈妈: { gender: "female", age: "adult" },
  爸爸: { gender: "male", age: "adult" },
  母亲: { gender: "female", age: "adult" },
  父亲: { gender: "male", age: "adult" },
  老板娘: { gender: "female", age: "adult" },
  老板: { gender: "unknown", age: "adult" },
  掌柜: { gender: "unknown", age: "adult" },
  店主: { gender: "unknown", age: "adult" },
  老师: { gender: "unknown", age: "adult" },
  医生: { gender: "unknown", age: "adult" },
  警察: { gender: "unknown", age: "adult" },
  司机: { gender: "unknown", age: "adult" },
  船夫: { gender: "male", age: "adult" },
  师父: { gender: "male", age: "adult" },
  陌生人: { gender: "unknown", age: "unknown" },
  小姑娘: { gender: "female", age: "child" },
  姑娘: { gender: "female", age: "young" },
  少年: { gender: "male", age: "young" },
  少女: { gender: "female", age: "young" },
  男孩: { gender: "male", age: "child" },
  女孩: { gender: "female", age: "child" },
  孩子: { gender: "unknown", age: "child" },
  男人: { gender: "male", age: "adult" },
  女人: { gender: "female", age: "adult" },
  哥哥: { gender: "male", age: "young" },
  姐姐: { gender: "female", age: "young" },
  弟弟: { gender: "male", age: "child" },
  妹妹: { gender: "female", age: "child" },
  // Fables and folk tales name their people by what they do.
  农夫: { gender: "male", age: "adult" },
  渔夫: { gender: "male", age: "adult" },
  樵夫: { gender: "male", age: "adult" },
  猎人: { gender: "male", age: "adult" },
  书生: { gender: "male", age: "young" },
  商人: { gender: "male", age: "adult" },
  和尚: { gender: "male", age: "adult" },
  国王: { gender: "male", age: "adult" },
  皇帝: { gender: "male", age: "adult" },
  王后: { gender: "female", age: "adult" },
  公主: { gender: "female", age: "young" },
  王子: { gender: "male", age: "young" },
  将军: { gender: "male", age: "adult" },
  士兵: { gender: "male", age: "adult" },
  牧童: { gender: "male", age: "child" },
  乞丐: { gender: "male", age: "adult" },
  强盗: { gender: "male", age: "adult" },
  仙女: { gender: "female", age: "young" },
  巫婆: { gender: "female", age: "elder" },
  老太婆: { gender: "female", age: "elder" },
  妻子: { gender: "female", age: "adult" },
  丈夫: { gender: "male", age: "adult" },
  // Animals: drawn as what they are.
  狐狸: beast("fox"),
  兔子: beast("rabbit"),
  白兔: beast("rabbit"),
  兔: beast("rabbit"),
  老虎: beast("tiger"),
  虎: beast("tiger"),
  猫: beast("cat"),
  狗: beast("dog"),
  乌鸦: beast("crow"),
  麻雀: beast("bird"),
  喜鹊: beast("bird"),
  公鸡: beast("bird"),
  鸟: beast("bird"),
  马: beast("horse"),
  牛: beast("ox"),
  猴子: beast("monkey"),
  猴: beast("monkey"),
  龙: beast("dragon"),
  金鱼: beast("fish"),
  鱼: beast("fish"),
  灰狼: beast("wolf"),
  狼: beast("wolf"),
  狗熊: beast("bear"),
  熊: beast("bear"),
  老鼠: beast("mouse"),
  乌龟: beast("creature"),
  羊: beast("creature"),
  蛇: beast("creature"),
  青蛙: beast("creature"),
  狮子: beast("creature"),
  大象: beast("creature"),
  鸭子: beast("creature"),
  松鼠: beast("creature"),
  山羊: beast("creature"),
  猪: beast("creature"),
  小鸡: beast("bird"),
  母鸡: beast("bird"),
  老鹰: beast("bird"),
  燕子: beast("bird"),
  猫头鹰: beast("bird"),
  鹿: beast("creature"),
  蚂蚁: beast("creature"),
  驴: beast("horse"),
  狮: beast("creature"),
};
/** 老/小/大 before a role noun: 老渔夫, 小羊, 大灰狼 (the prefix says the age of a person). */
const ZH_ROLE_PREFIX: Record<string, Age> = { 老: "elder", 小: "child", 大: "unknown" };
const ROLE_LIST = Object.keys(ROLE_NOUNS).sort((a, b) => b.length - a.length);

/** Titles after a Chinese name, and what they say about the person. */
export const ZH_TITLES: Record<string, { gender: Gender; age: Age }> = {
  先生: { gender: "male", age: "adult" },
  小姐: { gender: "female", age: "young" },
  姑娘: { gender: "female", age: "young" },
  女士: { gender: "female", age: "adult" },
  太太: { gender: "female", age: "adult" },
  夫人: { gender: "female", age: "adult" },
  奶奶: { gender: "female", age: "elder" },
  爷爷: { gender: "male", age: "elder" },
  大爷: { gender: "male", age: "elder" },
  大妈: { gender: "female", age: "elder" },
  婆婆: { gender: "female", age: "elder" },
  伯伯: { gender: "male", age: "elder" },
  阿姨: { gender: "female", age: "adult" },
  叔叔: { gender: "male", age: "adult" },
  公子: { gender: "male", age: "young" },
  师傅: { gender: "unknown", age: "adult" },
};

function givenOk(given: string): boolean {
  if (given.length === 0) return false;
  for (const ch of given) if (NOT_IN_NAME.has(ch) || !/\p{Script=Han}/u.test(ch)) return false;
  return !NOT_LAST.has(given[given.length - 1]!);
}

/** Is this 2–4 character string shaped like a Chinese personal name? */
export function looksLikeZhName(s: string): boolean {
  if (COMMON_WORDS.has(s) || s.length < 2 || s.length > 4) return false;
  for (const title of Object.keys(ZH_TITLES)) {
    // 陈奶奶, 王先生: a surname and a title.
    if (s.length === 1 + title.length && s.endsWith(title) && SURNAMES.has(s[0]!)) return true;
  }
  const double = DOUBLE_SURNAMES.find((d) => s.startsWith(d));
  if (double) return s.length >= 3 && givenOk(s.slice(2));
  if (s.length === 4) return false;
  // 老王, 小李: familiar forms of a surname.
  if (s.length === 2 && (s[0] === "老" || s[0] === "小") && SURNAMES.has(s[1]!)) return true;
  if (s.length === 2 && s[0] === "阿" && givenOk(s[1]!)) return true;
  return SURNAMES.has(s[0]!) && givenOk(s.slice(1));
}

/** The Chinese name (or role noun) at the start of `s`, longest first. */
export function zhNameAtStart(s: string): string | undefined {
  for (const title of Object.keys(ZH_TITLES)) {
    const cand = s.slice(0, 1 + title.length);
    if (cand.endsWith(title) && looksLikeZhName(cand)) return cand;
  }
  for (const len of [4, 3, 2]) {
    const cand = s.slice(0, len);
    if (cand.length === len && looksLikeZhName(cand)) return cand;
  }
  return undefined;
}

/** The role noun ("老人", "那个少年") at the start of `s`. */
export function zhRoleAtStart(s: string): string | undefined {
  const rest = s.replace(/^(?:那个|这个|一个|那位|这位|一位|那只|这只|一只|一条|一头|一匹|那|这)/, "");
  let direct = ROLE_LIST.find((r) => rest.startsWith(r));
  // 马明, 熊大: a one-character animal that is a surname starting a name is the name.
  if (direct?.length === 1 && SURNAMES.has(direct) && [3, 2].some((n) => looksLikeZhName(rest.slice(0, n))))
    direct = undefined;
  const prefix = ZH_ROLE_PREFIX[rest[0] ?? ""] !== undefined ? rest[0]! : "";
  const prefixed = prefix ? ROLE_LIST.find((r) => rest.startsWith(r, 1)) : undefined;
  // The longer reading wins: 老渔夫 over 老 + nothing, 老虎 over 老 + 虎.
  if (prefixed && (!direct || prefixed.length + 1 > direct.length)) return prefix + prefixed;
  return direct;
}

/** What a Chinese role noun (with its 老/小/大) says of whoever it names. */
export function zhRole(name: string): RoleInfo | undefined {
  const direct = ROLE_NOUNS[name];
  if (direct) return direct;
  const base = ROLE_NOUNS[name.slice(1)];
  const age = ZH_ROLE_PREFIX[name[0] ?? ""];
  if (!base || age === undefined) return undefined;
  return base.species || age === "unknown" ? base : { ...base, age };
}

/** Chinese characters that may follow a name when it is the subject of a clause. */
export const ZH_SUBJECT_NEXT = new Set(
  "说道问喊叫笑哭走跑站坐看望想点摇拿推拉抬转回低皱叹伸握递接停愣来去把对向朝是在也又还就便却正已刚不没轻慢突忽终连急默静听吃喝睡写读开关打和跟与".split(
    "",
  ),
);

/** Every Chinese subject-name candidate in `text`: a name shape followed by a verb or adverb. */
export function* zhNameCandidates(text: string): Generator<string> {
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (!SURNAMES.has(c) && c !== "老" && c !== "小" && !DOUBLE_SURNAMES.some((d) => text.startsWith(d, i))) continue;
    for (const len of [3, 2]) {
      const cand = text.slice(i, i + len);
      if (cand.length === len && ZH_SUBJECT_NEXT.has(text[i + len] ?? "") && looksLikeZhName(cand)) {
        yield cand;
        i += len - 1;
        break;
      }
    }
  }
}

/** Capitalised words that are not names at the start of an English sentence or anywhere. */
export const EN_STOPWORDS = new Set(
  (
    "The A An And But Or So Then When While If He She It They We You I His Her Their Our Its This That These Those There Here What Who Why How Where " +
    "Yes No Oh Ah Well Now Still Just After Before As At In On Of For With To From By One Someone Everyone Nobody Somebody Nothing Something Everything " +
    "Not Do Does Did Is Was Were Are Be Been Have Has Had Can Could Would Should Will Shall May Might Must Let Please Thank Thanks Sorry Hello Hi Goodbye Good " +
    "Mr Mrs Ms Miss Dr Sir Madam Lady Lord Chapter Part Book Meanwhile Later Soon Once Today Tomorrow Yesterday Tonight Suddenly Finally Perhaps Maybe " +
    "Every Each All Some Any Many Much More Most Other Another Such Only Even Also Too Very Again Never Always Sometimes Often Because Although Though Until " +
    "Unless Since Why Which Whose Whom My Your Me Him Them Us Over Under Up Down Out Into Through Across Behind Beside Between Among Around Along Without Within " +
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April June July August September October November December " +
    "God English Chinese French OK Okay Come Go Look Wait Stop Listen Hey Dear Don't I'm It's That's There's What's Let's"
  ).split(" "),
);

export const EN_TITLES: Record<string, { gender: Gender; age: Age }> = {
  "Mr.": { gender: "male", age: "adult" },
  Mr: { gender: "male", age: "adult" },
  "Mrs.": { gender: "female", age: "adult" },
  Mrs: { gender: "female", age: "adult" },
  "Ms.": { gender: "female", age: "adult" },
  Ms: { gender: "female", age: "adult" },
  Miss: { gender: "female", age: "young" },
  Sir: { gender: "male", age: "adult" },
  Lady: { gender: "female", age: "adult" },
  Aunt: { gender: "female", age: "adult" },
  Uncle: { gender: "male", age: "adult" },
  Grandma: { gender: "female", age: "elder" },
  Grandpa: { gender: "male", age: "elder" },
};

/** Is this capitalised word or phrase usable as an English name? */
export function looksLikeEnName(s: string): boolean {
  const words = s.split(/\s+/);
  if (words.length === 0 || words.length > 3) return false;
  const first = words[0]!.replace(/\.$/, "");
  if (EN_TITLES[words[0]!] && words.length >= 2)
    return words.slice(1).every((w) => /^[A-Z][a-z'’-]+$/.test(w) && !EN_STOPWORDS.has(w));
  if (EN_STOPWORDS.has(first)) return false;
  return words.every((w) => /^[A-Z][a-z'’-]*[a-z]$/.test(w) && !EN_STOPWORDS.has(w));
}

/** English role nouns that speak ("the fisherman asked"): a speaker even without a name. */
export const EN_ROLES: Record<string, RoleInfo> = {
  man: { gender: "male", age: "adult" },
  woman: { gender: "female", age: "adult" },
  boy: { gender: "male", age: "child" },
  girl: { gender: "female", age: "child" },
  child: { gender: "unknown", age: "child" },
  stranger: { gender: "unknown", age: "unknown" },
  fisherman: { gender: "male", age: "adult" },
  sailor: { gender: "unknown", age: "adult" },
  captain: { gender: "unknown", age: "adult" },
  keeper: { gender: "unknown", age: "adult" },
  driver: { gender: "unknown", age: "adult" },
  doctor: { gender: "unknown", age: "adult" },
  nurse: { gender: "unknown", age: "adult" },
  soldier: { gender: "unknown", age: "adult" },
  guard: { gender: "unknown", age: "adult" },
  officer: { gender: "unknown", age: "adult" },
  waiter: { gender: "male", age: "adult" },
  waitress: { gender: "female", age: "adult" },
  innkeeper: { gender: "unknown", age: "adult" },
  baker: { gender: "unknown", age: "adult" },
  farmer: { gender: "unknown", age: "adult" },
  teacher: { gender: "unknown", age: "adult" },
  priest: { gender: "male", age: "adult" },
  king: { gender: "male", age: "adult" },
  queen: { gender: "female", age: "adult" },
  mother: { gender: "female", age: "adult" },
  father: { gender: "male", age: "adult" },
  wife: { gender: "female", age: "adult" },
  husband: { gender: "male", age: "adult" },
  shepherd: { gender: "male", age: "adult" },
  prince: { gender: "male", age: "young" },
  princess: { gender: "female", age: "young" },
  merchant: { gender: "male", age: "adult" },
  woodcutter: { gender: "male", age: "adult" },
  hunter: { gender: "male", age: "adult" },
  miller: { gender: "male", age: "adult" },
  witch: { gender: "female", age: "elder" },
  traveller: { gender: "unknown", age: "adult" },
  traveler: { gender: "unknown", age: "adult" },
  monk: { gender: "male", age: "adult" },
  beggar: { gender: "unknown", age: "adult" },
  thief: { gender: "unknown", age: "adult" },
  emperor: { gender: "male", age: "adult" },
  giant: { gender: "unknown", age: "adult" },
  squirrel: beast("creature"),
  goat: beast("creature"),
  sheep: beast("creature"),
  lamb: beast("creature"),
  pig: beast("creature"),
  owl: beast("bird"),
  eagle: beast("bird"),
  goose: beast("bird"),
  hen: beast("bird"),
  ant: beast("creature"),
  grasshopper: beast("creature"),
  deer: beast("creature"),
  donkey: beast("horse"),
  fox: beast("fox"),
  hare: beast("rabbit"),
  rabbit: beast("rabbit"),
  tiger: beast("tiger"),
  cat: beast("cat"),
  dog: beast("dog"),
  crow: beast("crow"),
  raven: beast("crow"),
  bird: beast("bird"),
  sparrow: beast("bird"),
  horse: beast("horse"),
  ox: beast("ox"),
  bull: beast("ox"),
  monkey: beast("monkey"),
  dragon: beast("dragon"),
  fish: beast("fish"),
  wolf: beast("wolf"),
  bear: beast("bear"),
  mouse: beast("mouse"),
  rat: beast("mouse"),
  tortoise: beast("creature"),
  turtle: beast("creature"),
  frog: beast("creature"),
  lion: beast("creature"),
  snake: beast("creature"),
};

/** Words between "the" and a role noun that keep it one character: "the old woman", "the second traveller". */
export const EN_ROLE_ADJECTIVES = "old|young|little|big|first|second|third|other|elder|younger";
const EN_ROLE_PHRASE = new RegExp(`^the\\s+(?:(${EN_ROLE_ADJECTIVES})\\s+)?([a-z]+)$`);

/** "the fisherman", "the old woman": the role noun of an English role phrase, if it is one. */
export function enRole(phrase: string): RoleInfo | undefined {
  const m = EN_ROLE_PHRASE.exec(phrase);
  const role = m && EN_ROLES[m[2]!];
  if (!role) return undefined;
  const age: Age = m[1]?.startsWith("old")
    ? "elder"
    : m[1]?.startsWith("young")
      ? "young"
      : m[1]?.startsWith("little")
        ? "child"
        : role.age;
  return role.species ? role : { gender: role.gender, age };
}
