import { call, elevenLabsClient, type ElevenLabsConnection } from "./client.ts";

/** A voice of the account, as the voice library lists it. */
export interface ElevenLabsVoice {
  voice_id: string;
  name: string;
  /** ElevenLabs' labels: accent, gender, age, description, use_case, language, … */
  labels: Record<string, string>;
  preview_url: string | null;
}

/** The voices the API key can use (GET /v1/voices: premade, cloned, generated and library voices added). */
export async function listElevenLabsVoices(options: ElevenLabsConnection & { signal?: AbortSignal }): Promise<ElevenLabsVoice[]> {
  const client = elevenLabsClient(options);
  const context = { model: "voices", action: "voice list", apiKey: options.apiKey, signal: options.signal };
  const { voices } = await call(context, (abortSignal) => client.voices.getAll({}, { abortSignal }));
  return voices.map((v) => ({ voice_id: v.voiceId, name: v.name ?? v.voiceId, labels: { ...(v.labels ?? {}) }, preview_url: v.previewUrl ?? null }));
}
