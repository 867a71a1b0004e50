/** ElevenLabs: speech with character timestamps, the account's voices, and music. */
export type { ElevenLabsConnection } from "./client.ts";
export { ElevenLabsProviderError } from "./errors.ts";
export { createElevenLabsMusic, type ElevenLabsMusicOptions, musicPrompt } from "./music.ts";
export { createElevenLabsSpeech, type ElevenLabsSpeechOptions, sentenceTimings } from "./speech.ts";
export { cloneElevenLabsVoice, type ElevenLabsVoice, listElevenLabsVoices, type VoiceSample } from "./voices.ts";
