import type { GenerateResult, ImageModel, ImageOptions, ImageOutput } from "../types.ts";
import { charactersOf, paintKeyframe } from "./painter.ts";

/**
 * The offline image provider: the keyframe painter. It draws from the scene hint (location, time
 * of day, mood, characters) rather than the prose prompt, and keeps each character identical in
 * every picture by drawing its one figure (figures.ts: seeded by the character, drawn as its species),
 * so reference images are not needed to stay consistent.
 */
export function createLocalImage(): ImageModel {
  return {
    provider: "local",
    modelId: "inkreel-painter-1",
    async generate(o: ImageOptions): Promise<GenerateResult<ImageOutput>> {
      const scene = o.scene ?? {
        location: "studio",
        timeOfDay: "day",
        mood: "calm",
        characters: [],
        caption: o.prompt.slice(0, 60),
      };
      const bytes = await paintKeyframe({
        width: o.width,
        height: o.height,
        scene: {
          location: scene.location,
          timeOfDay: scene.timeOfDay,
          mood: scene.mood,
          ...(scene.weather ? { weather: scene.weather } : {}),
        },
        characters: charactersOf(scene),
        caption: scene.caption,
        look: scene.look,
        seed: o.seed,
        signal: o.signal,
      });
      const warnings = [
        "the local painter draws the scene hint, the style's palette and each character's figure (a person or its species); the prompt text is not interpreted",
      ];
      return {
        data: { bytes, mimeType: "image/png", width: o.width, height: o.height },
        warnings,
        usage: { images: 1 },
        response: { provider: "local", modelId: "inkreel-painter-1", timestamp: new Date() },
      };
    },
  };
}
