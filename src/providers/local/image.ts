import type { GenerateResult, ImageModel, ImageOptions, ImageOutput } from "../types.ts";
import { type PaintCache, paintScene, specOfHint } from "./painter.ts";

/**
 * The offline image provider: the keyframe painter. It draws from the scene hint (location, time
 * of day, mood, characters) rather than the prose prompt, and keeps each character identical in
 * every picture by drawing its one figure (figures.ts: seeded by the character, drawn as its species),
 * so reference images are not needed to stay consistent.
 */
export function createLocalImage(cache?: PaintCache): ImageModel {
  return {
    provider: "local",
    modelId: "inkreel-painter-1",
    readsPrompt: false,
    async generate(o: ImageOptions): Promise<GenerateResult<ImageOutput>> {
      const scene = o.scene ?? {
        location: "studio",
        timeOfDay: "day",
        mood: "calm",
        characters: [],
        caption: o.prompt.slice(0, 60),
      };
      const spec = specOfHint(
        scene,
        { width: o.width, height: o.height },
        {
          ...(scene.caption ? { caption: scene.caption } : {}),
          ...(o.seed !== undefined ? { seed: o.seed } : {}),
          ...(o.signal ? { signal: o.signal } : {}),
        },
      );
      // A scene the caller described is kept with its layout: the local video model moves its layers.
      const { png: bytes, layout } = await paintScene(spec, { ...(o.scene ? { hint: o.scene } : {}), cache });
      const warnings = [
        "the local painter draws the scene hint, the style's palette and each character's figure (a person or its species); the prompt text is not interpreted",
      ];
      return {
        data: { bytes, mimeType: "image/png", width: o.width, height: o.height, ...(layout ? { layout } : {}) },
        warnings,
        usage: { images: 1 },
        response: { provider: "local", modelId: "inkreel-painter-1", timestamp: new Date() },
      };
    },
  };
}
