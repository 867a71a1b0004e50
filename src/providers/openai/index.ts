export { OpenAIProviderError } from "./errors.ts";
export { createOpenAIImage, type OpenAIImageOptions } from "./image.ts";
export { createOpenAIText, type OpenAITextOptions } from "./text.ts";
export {
  createOpenAIVideo,
  OpenAIVideoError,
  type OpenAIVideoOptions,
  type OpenAIVideoPhase,
  type VideoRequestStore,
  videoSizesFor,
} from "./video.ts";
