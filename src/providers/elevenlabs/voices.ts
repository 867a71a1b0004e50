import type { VoiceInfo } from "../types.ts";
import { call, type ElevenLabsConnection, elevenLabsClient } from "./client.ts";

/** A voice of the account, as the voice library lists it. */
export interface ElevenLabsVoice {
  voice_id: string;
  name: string;
  /** ElevenLabs' labels: accent, gender, age, description, use_case, language, … */
  labels: Record<string, string>;
  preview_url: string | null;
}

/** The voices the API key can use (GET /v1/voices: premade, cloned, generated and library voices added). */
export async function listElevenLabsVoices(
  options: ElevenLabsConnection & { signal?: AbortSignal },
): Promise<ElevenLabsVoice[]> {
  const client = elevenLabsClient(options);
  const context = { model: "voices", action: "voice list", apiKey: options.apiKey, signal: options.signal };
  const { voices } = await call(context, (abortSignal) => client.voices.getAll({}, { abortSignal }));
  return voices.map((v) => ({
    voice_id: v.voiceId,
    name: v.name ?? v.voiceId,
    labels: { ...(v.labels ?? {}) },
    preview_url: v.previewUrl ?? null,
  }));
}

const clean = (s: string | undefined) => {
  const v = s?.trim();
  return v ? v : null;
};

/** ElevenLabs' gender label ("female", "male", "neutral", "non-binary") as the library's. */
export function genderOf(label: string | undefined): VoiceInfo["gender"] {
  const g = clean(label)
    ?.toLowerCase()
    .replace(/[\s_-]+/g, "");
  if (g === "female" || g === "woman") return "female";
  if (g === "male" || g === "man") return "male";
  if (g === "neutral" || g === "nonbinary" || g === "androgynous") return "neutral";
  return null;
}

/** ElevenLabs' age label ("young", "middle aged", "old", …) as the library's. */
export function ageOf(label: string | undefined): VoiceInfo["age"] {
  const a = clean(label)
    ?.toLowerCase()
    .replace(/[\s-]+/g, "_");
  if (!a) return null;
  if (a === "child" || a === "kid" || a === "children" || a === "teen" || a === "teenager") return "child";
  if (a === "young" || a === "young_adult") return "young";
  if (a === "middle_aged" || a === "middleaged" || a === "adult" || a === "mature") return "middle_aged";
  if (a === "old" || a === "elderly" || a === "senior" || a === "older") return "old";
  return null;
}

/** A voice of the account as a voice-library entry: its labels gender, age, accent, language and description read out. */
export function toVoiceInfo(v: ElevenLabsVoice): VoiceInfo {
  const labels = v.labels;
  return {
    voice_id: v.voice_id,
    name: v.name,
    gender: genderOf(labels.gender),
    age: ageOf(labels.age),
    accent: clean(labels.accent),
    language: clean(labels.language)?.toLowerCase() ?? null,
    description: clean(labels.description),
    preview_url: v.preview_url,
    labels: { ...labels },
  };
}

/** A recording to clone a voice from. */
export interface VoiceSample {
  bytes: Uint8Array;
  fileName: string;
  mimeType: string;
}

/**
 * An instant voice clone (POST /v1/voices/add through the SDK's `voices.ivc.create`): a new voice
 * of the account made from the samples, usable by speech at once. Returns its voice_id.
 */
export async function cloneElevenLabsVoice(
  options: ElevenLabsConnection & { signal?: AbortSignal },
  input: { name: string; description?: string; labels?: Record<string, string>; samples: VoiceSample[] },
): Promise<{ voice_id: string; requires_verification: boolean }> {
  const client = elevenLabsClient(options);
  const context = { model: "voices", action: "voice clone", apiKey: options.apiKey, signal: options.signal };
  const files = input.samples.map((s) => new File([s.bytes.slice()], s.fileName, { type: s.mimeType }));
  const made = await call(context, (abortSignal) =>
    client.voices.ivc.create(
      {
        name: input.name,
        files,
        ...(input.description ? { description: input.description } : {}),
        ...(input.labels && Object.keys(input.labels).length > 0 ? { labels: input.labels } : {}),
      },
      { abortSignal },
    ),
  );
  return { voice_id: made.voiceId, requires_verification: made.requiresVerification ?? false };
}
