// The small story and its analysis answers the OpenAI provider tests ask for and script.
import type { Character, Scene, Shot } from "../../src/story/schemas.ts";

export const SYSTEM = "You adapt stories into short illustrated videos. Answer with JSON matching the schema exactly.";
export const STORY =
  "Rain fell on the old teahouse. Lin poured tea for the stranger, who said nothing for a long while.";
export const ask = (task: string, source = STORY) => ({
  system: SYSTEM,
  prompt: `${task}\n\nStory:\n${source}`,
  source,
});

export const storyline = {
  title: "Rain at the Teahouse",
  logline: "A tea girl meets a silent stranger on a rainy night.",
  summary: "Lin serves a stranger who waits out the rain.",
  tone: "quiet",
  genre: "drama",
  language: "en",
  chapters: [{ index: 1, title: "Rain", summary: "The stranger arrives." }],
};
export const lin: Character = {
  name: "Lin",
  aliases: ["Xiao Lin"],
  role: "protagonist",
  gender: "female",
  age: "young",
  species: "human",
  description: "A tea girl in a blue apron.",
  personality: "Kind, curious.",
  lines: 3,
};
export const scene = (id: string, chapter: number, summary = "Lin serves tea."): Scene => ({
  id,
  chapter,
  location: "teahouse",
  timeOfDay: "night",
  mood: "calm",
  summary,
  characters: ["Lin"],
});
export const shot = (id: string, sceneId: string): Shot => ({
  id,
  sceneId,
  characters: ["Lin"],
  description: "Lin pours tea by a rain-streaked window.",
  narration: "The rain did not stop.",
  dialogue: [{ speaker: "Lin", text: "More tea?" }],
  camera: "wide",
  transition: "cut",
  durationS: 4,
});
