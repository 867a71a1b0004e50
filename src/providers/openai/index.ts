export { OpenAIProviderError } from "./errors.ts";
export { createOpenAIImage, type OpenAIImageOptions } from "./image.ts";
export { createOpenAIText, type OpenAITextOptions } from "./text.ts";
