import type { Config } from "../config.ts";
import { timed } from "../metrics/busy.ts";
import { createElevenLabsMusic, createElevenLabsSpeech } from "./elevenlabs/index.ts";
import { createFalImage, createFalVideo } from "./fal/index.ts";
import { createOpenAIImage, createOpenAIText } from "./openai/index.ts";
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

type Cloud = Config["cloud"];
type Factories = { [C in Capability]: Record<ProviderChoice[C], (cloud: Cloud) => Providers[C]> };

// loadConfig guarantees the key of every provider chosen, hence the non-null assertions.
const FACTORIES: Factories = {
  text: {
    local: createLocalText,
    openai: ({ openai }) => createOpenAIText({ apiKey: openai.apiKey!, baseUrl: openai.baseUrl ?? undefined, model: openai.textModel }),
  },
  image: {
    local: createLocalImage,
    openai: ({ openai }) => createOpenAIImage({ apiKey: openai.apiKey!, baseUrl: openai.baseUrl ?? undefined, model: openai.imageModel }),
    fal: ({ fal }) => createFalImage({ key: fal.key!, model: fal.imageModel }),
  },
  video: {
    local: createLocalMotion,
    fal: ({ fal }) => createFalVideo({ key: fal.key!, model: fal.videoModel }),
  },
  speech: {
    local: () => createLocalSpeech(),
    elevenlabs: ({ elevenlabs }) => createElevenLabsSpeech({ apiKey: elevenlabs.apiKey!, baseUrl: elevenlabs.baseUrl ?? undefined, modelId: elevenlabs.speechModel }),
  },
  music: {
    local: createLocalMusic,
    elevenlabs: ({ elevenlabs }) => createElevenLabsMusic({ apiKey: elevenlabs.apiKey!, baseUrl: elevenlabs.baseUrl ?? undefined, modelId: elevenlabs.musicModel as never }),
  },
};

/** Every call of a model's `generate` is timed (see metrics/busy.ts). */
function timedModel<M extends { generate(o: never): Promise<unknown> }>(model: M): M {
  const generate = model.generate.bind(model) as (o: never) => Promise<unknown>;
  return Object.assign(Object.create(model) as M, { generate: (o: never) => timed("provider", () => generate(o)) });
}

/** The configured provider of every capability (names and keys are validated when the config is read). */
export function createProviders(config: Pick<Config, "providers" | "cloud">): Providers {
  const choice = config.providers;
  const cloud = config.cloud;
  const text = FACTORIES.text[choice.text](cloud);
  const generateObject = text.generateObject.bind(text);
  return {
    text: Object.assign(Object.create(text) as TextModel, { generateObject: ((r) => timed("provider", () => generateObject(r))) as TextModel["generateObject"] }),
    image: timedModel(FACTORIES.image[choice.image](cloud)),
    video: timedModel(FACTORIES.video[choice.video](cloud)),
    speech: timedModel(FACTORIES.speech[choice.speech](cloud)),
    music: timedModel(FACTORIES.music[choice.music](cloud)),
  };
}
