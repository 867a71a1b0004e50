/**
 * What a picture shows and how it was laid out, for models that draw from structure (the local
 * painter) rather than prose: the scene hint a keyframe is painted from, the layout kept with it,
 * and when each speaker's mouth is open in its clip.
 */
import type { Camera, MOOD_VALUES, Species, TimeOfDay } from "./schemas.ts";
import type { Weather } from "./weather.ts";

type Mood = (typeof MOOD_VALUES)[number];

/** What a keyframe shows, for models that draw from structure (the local painter) rather than prose. */
export interface SceneHint {
  location: string;
  timeOfDay: TimeOfDay;
  mood: Mood;
  characters: string[];
  caption?: string;
  /** The project's art style as a painter without a text model can use it: a palette, black and white, its name. */
  look?: { palette: string[]; monochrome?: boolean; style?: string };
  /** The weather the scene's text speaks of (rain, snow, fog), for painters that draw it. */
  weather?: Weather;
  /** How each named character is drawn by a painter without a text model: what it is, and the seed of its look. */
  figures?: FigureHint[];
  /** The shot's camera: how large a painter draws the characters (a close-up shows one, large). */
  camera?: Camera;
  /** Who speaks first in the shot: drawn in front of the others. */
  speaker?: string;
}

/** A rectangle in a picture's pixels. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * What a painter that draws from structure (the local painter) drew, kept with the picture so a
 * video model of the same painter can move its layers apart and open its characters' mouths:
 * what it was painted from, and where each figure's mouth is.
 */
export interface PaintedLayout {
  /** The painter and its version (`inkreel-painter-1@5`): only the same one can take the picture apart again. */
  painter: string;
  seed: number;
  width: number;
  height: number;
  scene: SceneHint;
  figures: Array<{ name: string; mouth: Box }>;
}

/** When a character's mouth is open during a clip, in seconds from its start (from its lines' speech timings). */
export interface TalkTrack {
  name: string;
  open: Array<[startS: number, endS: number]>;
}

/** A character as the offline painter draws it: the same seed, the same look in every picture. */
export interface FigureHint {
  name: string;
  seed: string;
  species: Species;
  gender: string;
  age: string;
}
