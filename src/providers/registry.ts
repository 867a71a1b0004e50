import { timed } from "../metrics/busy.ts";
import type { Capability, ProviderChoice } from "./capabilities.ts";
import { createLocalImage } from "./local/image.ts";
import { createLocalMotion } from "./local/motion.ts";
import { createLocalMusic } from "./local/music.ts";
import { createLocalSpeech } from "./local/speech.ts";
import { createLocalText } from "./local/text.ts";
import type { ImageModel, MusicModel, SpeechModel, TextModel, VideoModel } from "./types.ts";

/** One model per capability, chosen by configuration. */
export interface Providers {
  text: TextModel;
  image: ImageModel;
  video: VideoModel;
  speech: SpeechModel;
  music: MusicModel;
}

type Factories = { [C in Capability]: Record<ProviderChoice[C], () => Providers[C]> };

const FACTORIES: Factories = {
  text: { local: createLocalText },
  image: { local: createLocalImage },
  video: { local: createLocalMotion },
  speech: { local: () => createLocalSpeech() },
  music: { local: createLocalMusic },
};

/** Every call of a model's `generate` is timed (see metrics/busy.ts). */
function timedModel<M extends { generate(o: never): Promise<unknown> }>(model: M): M {
  const generate = model.generate.bind(model) as (o: never) => Promise<unknown>;
  return Object.assign(Object.create(model) as M, { generate: (o: never) => timed("provider", () => generate(o)) });
}

/** The configured provider of every capability (names are validated when the config is read). */
export function createProviders(choice: ProviderChoice): Providers {
  const text = FACTORIES.text[choice.text]();
  const generateObject = text.generateObject.bind(text);
  return {
    text: Object.assign(Object.create(text) as TextModel, { generateObject: ((r) => timed("provider", () => generateObject(r))) as TextModel["generateObject"] }),
    image: timedModel(FACTORIES.image[choice.image]()),
    video: timedModel(FACTORIES.video[choice.video]()),
    speech: timedModel(FACTORIES.speech[choice.speech]()),
    music: timedModel(FACTORIES.music[choice.music]()),
  };
}
