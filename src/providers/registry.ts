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

/** The configured provider of every capability (names are validated when the config is read). */
export function createProviders(choice: ProviderChoice): Providers {
  return {
    text: FACTORIES.text[choice.text](),
    image: FACTORIES.image[choice.image](),
    video: FACTORIES.video[choice.video](),
    speech: FACTORIES.speech[choice.speech](),
    music: FACTORIES.music[choice.music](),
  };
}
