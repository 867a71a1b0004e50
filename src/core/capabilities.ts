/** The providers each capability can be served by; "local" runs offline on this machine. */
export const PROVIDERS = {
  text: ["local", "openai"],
  image: ["local", "openai", "fal"],
  video: ["local", "openai", "fal"],
  speech: ["local", "elevenlabs"],
  music: ["local", "elevenlabs"],
} as const;

export type Capability = keyof typeof PROVIDERS;
export const CAPABILITIES = Object.keys(PROVIDERS) as Capability[];
export type ProviderChoice = { [C in Capability]: (typeof PROVIDERS)[C][number] };
