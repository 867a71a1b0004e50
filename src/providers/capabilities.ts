/**
 * The providers each capability can be served by. The cloud providers (OpenAI, fal.ai,
 * ElevenLabs) join these lists when they are built; "local" runs offline on this machine.
 */
export const PROVIDERS = {
  text: ["local"],
  image: ["local"],
  video: ["local"],
  speech: ["local"],
  music: ["local"],
} as const;

export type Capability = keyof typeof PROVIDERS;
export const CAPABILITIES = Object.keys(PROVIDERS) as Capability[];
export type ProviderChoice = { [C in Capability]: (typeof PROVIDERS)[C][number] };
