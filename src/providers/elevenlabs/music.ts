import { join } from "node:path";
import type { ElevenLabs } from "@elevenlabs/elevenlabs-js";
import { probe, withTempDir } from "../../media/ffmpeg.ts";
import {
  type AudioOutput,
  type GenerateResult,
  MOODS,
  type Mood,
  type MusicModel,
  type MusicOptions,
} from "../types.ts";
import { call, type ElevenLabsConnection, elevenLabsClient } from "./client.ts";
import { ElevenLabsProviderError } from "./errors.ts";

/** ElevenLabs composes 3 s to 600 s (music_length_ms 3000 to 600000). */
export const MUSIC_LENGTH_S = [3, 600] as const;
const PROMPT_MAX = 1000;

const MOOD_WORDS: Record<Mood, string> = {
  calm: "calm, gentle and warm; soft piano and strings, slow tempo",
  happy: "bright, cheerful and light; upbeat acoustic guitar and plucked strings",
  sad: "melancholic and tender; slow piano with a quiet string pad, minor key",
  tense: "tense and suspenseful; low pulsing strings and muted percussion, minor key",
  epic: "epic and cinematic; full orchestra, big drums and brass, rising",
  mysterious: "mysterious and atmospheric; airy pads, sparse bells, slow and dark",
};

/** The text prompt: the mood in words, then the story's own prompt (its tone), as background for narration. */
export function musicPrompt(mood: Mood, prompt?: string): string {
  const extra = prompt?.trim().replace(/\s+/g, " ").slice(0, PROMPT_MAX);
  return [
    `Instrumental background music for a narrated story video: ${MOOD_WORDS[mood]}.`,
    extra ? `The story's tone: ${extra}.` : "",
    "No vocals; steady and unobtrusive under a speaking voice, with an ending that loops back to its start.",
  ]
    .filter(Boolean)
    .join(" ");
}

export interface ElevenLabsMusicOptions extends ElevenLabsConnection {
  /** music_v1, music_v2 or music_v2_5 (default), or a newer id the API knows. */
  modelId?: string;
}

/**
 * ElevenLabs Music (POST /v1/music): a prompt made from the mood and the story's prompt, the
 * length in milliseconds, instrumental only. The answer is MP3 in the model's default format;
 * its length and sample rate are measured with ffprobe.
 */
export function createElevenLabsMusic(options: ElevenLabsMusicOptions): MusicModel {
  const modelId = options.modelId ?? "music_v2_5";
  const client = elevenLabsClient(options);
  return {
    provider: "elevenlabs",
    modelId,
    async generate(o: MusicOptions): Promise<GenerateResult<AudioOutput>> {
      if (o.signal?.aborted) throw o.signal.reason ?? new Error("aborted");
      if (!MOODS.includes(o.mood)) throw new RangeError(`unknown mood "${o.mood}"`);
      if (!(o.durationS > 0 && Number.isFinite(o.durationS)))
        throw new RangeError("music length must be a positive number of seconds");
      const warnings: string[] = [];
      const lengthS = Math.min(MUSIC_LENGTH_S[1], Math.max(MUSIC_LENGTH_S[0], o.durationS));
      if (lengthS !== o.durationS)
        warnings.push(
          `ElevenLabs composes ${MUSIC_LENGTH_S[0]} to ${MUSIC_LENGTH_S[1]} s of music; ${o.durationS} s was asked as ${lengthS} s`,
        );
      // The API refuses a seed together with a prompt: the same options may give another track.
      if (o.seed !== undefined) warnings.push("ElevenLabs Music takes no seed with a prompt; the seed was not sent");
      const request: ElevenLabs.BodyComposeMusicV1MusicPost = {
        prompt: musicPrompt(o.mood, o.prompt),
        musicLengthMs: Math.round(lengthS * 1000),
        // The SDK's closed list of the models it knew when built; a newer id still goes to the API.
        modelId: modelId as ElevenLabs.MusicModelId,
        forceInstrumental: true,
      };
      const context = { model: modelId, action: "music", apiKey: options.apiKey, signal: o.signal };
      const { bytes, requestId } = await call(context, async (abortSignal) => {
        const { data, rawResponse } = await client.music.compose(request, { abortSignal }).withRawResponse();
        return {
          bytes: new Uint8Array(await new Response(data).arrayBuffer()),
          requestId: rawResponse.headers.get("request-id") ?? rawResponse.headers.get("song-id"),
        };
      });
      const audio = await withTempDir(async (dir) => {
        const path = join(dir, "music.mp3");
        await Bun.write(path, bytes);
        const p = await probe(path).catch(() => null);
        return p?.streams.find((s) => s.codec_type === "audio")
          ? { p, stream: p.streams.find((s) => s.codec_type === "audio")! }
          : null;
      });
      if (!audio)
        throw new ElevenLabsProviderError("ElevenLabs music failed: the audio it sent cannot be read", {
          model: modelId,
          retryable: false,
          requestId,
        });
      const durationS = Number(audio.stream.duration ?? audio.p.durationS);
      if (!(durationS > 0))
        throw new ElevenLabsProviderError("ElevenLabs music failed: the audio it sent has no length", {
          model: modelId,
          retryable: false,
          requestId,
        });
      return {
        data: { bytes, mimeType: "audio/mpeg", durationS, sampleRate: Number(audio.stream.sample_rate ?? 44_100) },
        warnings,
        usage: { audioSeconds: durationS },
        response: { provider: "elevenlabs", modelId, timestamp: new Date(), id: requestId ?? undefined },
      };
    },
  };
}
