import { join } from "node:path";
import type { Timeline, TimelineShot } from "../../src/media/timeline.ts";
import { createLocalMusic } from "../../src/providers/local/music.ts";
import { paintKeyframe } from "../../src/providers/local/painter.ts";
import { createLocalSpeech } from "../../src/providers/local/speech.ts";
import type { Transition } from "../../src/story/schemas.ts";

/** Lines of a short Chinese story, one per shot, for the sample timelines of tests and benchmarks. */
export const SAMPLE_LINES = [
  "林小雨推开茶馆的门，外面下着小雨。",
  "“你来了？”掌柜笑着问道。",
  "她点点头，在窗边坐下。",
  "一个穿黑衣的男人走了进来。",
  "他把一封信放在她的桌上。",
  "“这是你父亲留下的。”他低声说。",
  "林小雨的手微微发抖。",
  "信里只有一张旧地图。",
  "窗外的雨越下越大。",
  "她决定明天一早就出发。",
  "掌柜叹了口气，没有说话。",
  "夜深了，茶馆里只剩下灯光。",
];

const TRANSITIONS: Transition[] = ["cut", "dissolve", "cut", "fade", "cut", "wipe"];

/**
 * Writes the files of a sample timeline into `dir` (painted keyframes, espeak narration, a local
 * music track) and returns the timeline: `shots` shots of `shotS` seconds with narration,
 * transitions, burned-in Chinese subtitles, ducked background music and a cover.
 */
export async function sampleTimeline(
  dir: string,
  options: { shots?: number; shotS?: number; resolution?: Timeline["output"]["resolution"] } = {},
): Promise<Timeline> {
  const count = options.shots ?? 12;
  const shotS = options.shotS ?? 5;
  const speech = createLocalSpeech();
  const shots: TimelineShot[] = [];
  for (let i = 0; i < count; i++) {
    const text = SAMPLE_LINES[i % SAMPLE_LINES.length]!;
    const still = join(dir, `still-${i}.png`);
    await Bun.write(
      still,
      await paintKeyframe({
        width: 1280,
        height: 720,
        scene: {
          location: i < 6 ? "茶馆" : "街道",
          timeOfDay: i < 10 ? "day" : "night",
          mood: i % 4 === 3 ? "tense" : "calm",
        },
        characters: i % 3 === 0 ? [{ name: "林小雨" }] : [{ name: "林小雨" }, { name: i < 4 ? "掌柜" : "黑衣人" }],
      }),
    );
    const voice = await speech.generate({ text, language: "zh", voice: "narrator" });
    const audio = join(dir, `line-${i}.wav`);
    await Bun.write(audio, voice.data.bytes);
    shots.push({
      id: `shot-${i + 1}`,
      visual: { kind: "still", path: still },
      durationS: Math.max(shotS, Math.ceil(voice.data.durationS + 0.5)),
      transition: i === 0 ? "fade" : TRANSITIONS[i % TRANSITIONS.length],
      audio: [{ path: audio, offsetS: 0.3, text, timings: voice.data.timings }],
    });
  }
  const music = await createLocalMusic().generate({ mood: "calm", durationS: 20, seed: 7 });
  const bgm = join(dir, "bgm.wav");
  await Bun.write(bgm, music.data.bytes);
  return {
    output: { resolution: options.resolution ?? "720p", aspectRatio: "16:9", fps: 24, format: "mp4" },
    shots,
    bgm: { path: bgm, volume: 0.3, loop: true, fadeInS: 1, fadeOutS: 2, duck: true },
    subtitles: { burnIn: true },
    cover: { title: "雨夜茶馆" },
  };
}
