// Smoke tests against the real cloud APIs. They run only when real keys are in the environment
// (OPENAI_API_KEY, FAL_KEY, ELEVENLABS_API_KEY) and are reported as skipped otherwise: the rest of
// the suite covers the same code against local servers that speak each provider's wire format,
// and these confirm what only the real services can (models' actual answers, auth, pricing units).
import { describe, expect, test } from "bun:test";
import { createElevenLabsSpeech } from "../src/providers/elevenlabs/index.ts";
import { createFalImage } from "../src/providers/fal/index.ts";
import { createOpenAIText } from "../src/providers/openai/index.ts";
import { StorylineSchema, validate } from "../src/story/schemas.ts";

const env = process.env;
const STORY =
  "Lin opened the tea house door. Outside it was raining. Old Zhou smiled and asked, 'The usual?' Lin nodded.";

describe("live: OpenAI", () => {
  test.skipIf(!env.OPENAI_API_KEY)(
    "structured storyline and streamed text",
    async () => {
      const text = createOpenAIText({
        apiKey: env.OPENAI_API_KEY!,
        baseUrl: env.OPENAI_BASE_URL,
        model: env.OPENAI_TEXT_MODEL ?? "gpt-4o-mini",
      });
      const r = await text.generateObject({
        schema: StorylineSchema,
        system: "Answer with JSON matching the schema.",
        prompt: `Give the storyline.\n\nStory:\n${STORY}`,
        source: STORY,
      });
      expect(() => validate(StorylineSchema, r.data)).not.toThrow();
      expect(r.usage.inputTokens).toBeGreaterThan(0);
      const s = text.streamText({ system: "Be brief.", prompt: "Say hello in three words." });
      let said = "";
      for await (const part of s.textStream) said += part;
      expect(said.trim().length).toBeGreaterThan(0);
      expect((await s.usage).outputTokens).toBeGreaterThan(0);
    },
    120_000,
  );
});

describe("live: fal.ai", () => {
  test.skipIf(!env.FAL_KEY)(
    "FLUX schnell draws a picture through the queue",
    async () => {
      const image = createFalImage({ key: env.FAL_KEY!, model: "fal-ai/flux/schnell" });
      const r = await image.generate({
        prompt: "a tea house on a rainy evening, anime style",
        width: 512,
        height: 512,
        seed: 1,
      });
      expect(["image/png", "image/jpeg", "image/webp"]).toContain(r.data.mimeType);
      expect(r.data.bytes.length).toBeGreaterThan(1000);
      expect(r.usage.images).toBe(1);
    },
    180_000,
  );
});

describe("live: ElevenLabs", () => {
  test.skipIf(!env.ELEVENLABS_API_KEY)(
    "lists voices and speaks a sentence with timings",
    async () => {
      const speech = createElevenLabsSpeech({ apiKey: env.ELEVENLABS_API_KEY! });
      const voices = await speech.voices();
      expect(voices.length).toBeGreaterThan(0);
      const r = await speech.generate({
        text: "The rain kept falling. Lin sat by the window.",
        language: "en",
        voice: voices[0]!.voice_id,
      });
      expect(r.data.mimeType).toBe("audio/mpeg");
      expect(r.data.timings.length).toBe(2);
      expect(r.data.timings[1]!.startS).toBeGreaterThan(r.data.timings[0]!.startS);
    },
    120_000,
  );
});
