/**
 * A long Chinese web novel for `bench:series`, made deterministically from our own templates,
 * names and word lists (nothing fetched): recurring characters who speak with speech verbs, a
 * place and time per scene, scene breaks, and chapters that end on a question or a reveal. The same
 * `chars` always gives the same text. Usage: `bun scripts/bench-series/novel.ts 200000 > novel.txt`.
 */
import { prng } from "../../src/core/prng.ts";

const PEOPLE = ["林小雨", "陈墨", "周掌柜", "苏婉", "老赵", "阿福", "沈青", "顾长风"];
const PLACES = [
  "茶馆",
  "老街",
  "码头",
  "书房",
  "后院",
  "渡口",
  "集市",
  "祠堂",
  "河边",
  "客栈",
  "药铺",
  "城门",
  "山道",
  "庙里",
  "船上",
  "钱庄",
];
const TIMES = ["清晨", "午后", "傍晚", "深夜", "黎明时分", "正午"];
const WEATHER = ["下着小雨", "起了大雾", "风很大", "月亮很亮", "天色阴沉", "阳光正好"];
const THINGS = ["一封旧信", "一把铜钥匙", "半张地图", "一枚玉佩", "一本账簿", "一盏油灯", "一只木匣", "一支断箭"];
const FEELINGS = ["神色有些紧张", "脸上带着笑", "眉头紧锁", "眼里含着泪", "一言不发", "显得很疲惫"];
const QUESTIONS = [
  "你怎么会有{thing}？",
  "这件事还有谁知道？",
  "你为什么现在才告诉我？",
  "那天晚上你到底看见了什么？",
  "我们还能相信谁？",
];
const ANSWERS = [
  "这件事说来话长，你先坐下，我慢慢告诉你。",
  "我答应过你父亲，不到时候不能说。",
  "别问了，知道得越多越危险。",
  "我也是今天才明白过来。",
  "你跟我来，我带你去看一样东西。",
];
const HOOKS = [
  "那个人到底是谁？",
  "原来父亲一直都知道这个秘密。",
  "门外忽然传来了脚步声……",
  "他为什么要骗我？",
  "就在这时，灯灭了。",
  "信的最后一行字，竟然是她自己的名字。",
];

function scene(next: () => number): string {
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!;
  const a = pick(PEOPLE);
  let b = pick(PEOPLE);
  while (b === a) b = pick(PEOPLE);
  const thing = pick(THINGS);
  const lines = [
    `${pick(TIMES)}，${pick(WEATHER)}，${a}来到${pick(PLACES)}，四周很安静，只有风吹过屋檐的声音。`,
    `${b}早已等在那里，手里握着${thing}，${pick(FEELINGS)}。`,
    `${a}走上前，低声问道：“${pick(QUESTIONS).replace("{thing}", thing)}”`,
    `${b}叹了口气，说：“${pick(ANSWERS)}”`,
    `${a}点点头，在旁边坐了下来，目光一直没有离开那${thing.slice(1)}。`,
    `${b}说：“三年前的那个晚上，我在${pick(PLACES)}见过你父亲，他把它交给了我。”`,
    `${a}愣住了，过了很久才开口：“他还说了什么？”`,
    `${b}摇摇头，说：“${pick(ANSWERS)}”`,
  ];
  return lines.join("\n");
}

/** Whole chapters of three or four scenes, as many as fit in `chars` characters. */
export function longNovel(chars: number, seed = 20261203): string {
  const next = prng(seed);
  const parts: string[] = ["# 雨巷旧事", ""];
  let length = [...parts.join("\n")].length;
  for (let ch = 1; ; ch++) {
    const chapter = [`第${ch}章`, ""];
    const scenes = 3 + Math.floor(next() * 2);
    for (let s = 0; s < scenes; s++) {
      chapter.push(scene(next), "");
      if (s < scenes - 1) chapter.push("＊＊＊", "");
    }
    chapter.push(`${PEOPLE[ch % PEOPLE.length]}站在门口，心里只剩一个念头：${HOOKS[ch % HOOKS.length]}`, "");
    const text = chapter.join("\n");
    // Each part is joined to the next by one line break.
    if (length + [...text].length + 1 > chars) break;
    parts.push(text);
    length += [...text].length + 1;
  }
  return parts.join("\n");
}

if (import.meta.main) process.stdout.write(longNovel(Number(process.argv[2] ?? 200_000)));
