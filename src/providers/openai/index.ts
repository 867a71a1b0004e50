export { createOpenAIText, type OpenAITextOptions } from "./text.ts";
export { createOpenAIImage, type OpenAIImageOptions } from "./image.ts";
export { OpenAIProviderError } from "./errors.ts";
