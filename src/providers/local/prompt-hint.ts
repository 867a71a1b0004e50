import { figureOf } from "../../story/material.ts";
import { weatherOf } from "../../story/weather.ts";
import type { SceneHint } from "../types.ts";
import { analyseStory, MIN_STORY_CHARS } from "./analyser/index.ts";
import { clip, detectLanguage } from "./analyser/language.ts";
import { locationOf, moodOf, moodScores, timeOf } from "./analyser/scenes.ts";

/** At most this many characters in one picture made from a prompt. */
const MAX_FIGURES = 3;

/**
 * A scene hint read from a free prompt (direct generation), so the local painter, which draws
 * from structure rather than prose, draws what the prompt names: its place, time, mood and
 * weather, and the characters the local analyser finds in it (people and animals, drawn as what
 * they are). A prompt too short for the analyser still gives place, time and mood.
 */
export function hintOfPrompt(prompt: string): SceneHint {
  const text = prompt.trim();
  const lang = detectLanguage(text);
  const analysis = [...text].length >= MIN_STORY_CHARS ? safeAnalysis(text) : null;
  const scene = analysis?.scenes[0];
  const cast = (analysis?.characters ?? []).slice(0, MAX_FIGURES);
  return {
    location: scene?.location ?? locationOf(text, lang) ?? (lang === "zh" ? "画室" : "studio"),
    timeOfDay: scene?.timeOfDay ?? timeOf(text, lang) ?? "day",
    mood: scene?.mood ?? moodOf(moodScores(text, lang)),
    characters: cast.map((c) => c.name),
    figures: cast.map(figureOf),
    weather: weatherOf(text),
    caption: clip(text, 60),
  };
}

function safeAnalysis(text: string) {
  try {
    return analyseStory(text);
  } catch {
    // A prompt the analyser refuses (no letters, too long) is drawn from its keywords alone.
    return null;
  }
}
