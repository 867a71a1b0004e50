/** ElevenLabs: speech with character timestamps, the account's voices, and music. */
export type { ElevenLabsConnection } from "./client.ts";
export { ElevenLabsProviderError } from "./errors.ts";
export { createElevenLabsMusic, musicPrompt, type ElevenLabsMusicOptions } from "./music.ts";
export { createElevenLabsSpeech, sentenceTimings, type ElevenLabsSpeechOptions } from "./speech.ts";
export { listElevenLabsVoices, type ElevenLabsVoice } from "./voices.ts";
