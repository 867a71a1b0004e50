import { Elysia, t } from "elysia";
import type { Deps } from "../../deps.ts";
import { authGuard } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok, PageOf, PageQuery } from "../../http/envelope.ts";
import { AiServiceError, isProviderFailure } from "../../providers/ai-error.ts";
import { listVoices, refreshVoices } from "../../voices/library.ts";

const nullable = (s: ReturnType<typeof t.String>) => t.Nullable(s);
const Gender = t.Union([t.Literal("female"), t.Literal("male"), t.Literal("neutral")]);

export const VoiceSchema = t.Object({
  provider: t.String({ description: "The speech provider the voice belongs to (local, elevenlabs, …)" }),
  voice_id: t.String({ description: "What switch-voice and line edits take as voice_id" }),
  name: t.String(),
  gender: t.Nullable(Gender),
  age: t.Nullable(t.Union([t.Literal("child"), t.Literal("young"), t.Literal("middle_aged"), t.Literal("old")])),
  accent: nullable(t.String()),
  language: nullable(t.String()),
  description: nullable(t.String()),
  preview_url: nullable(t.String()),
  labels: t.Record(t.String(), t.String()),
  synced_at: t.String({ format: "date-time", description: "When the voice was last read from its provider" }),
});

const Query = t.Composite([
  PageQuery,
  t.Object({
    provider: t.Optional(
      t.String({ pattern: "^[a-z0-9][a-z0-9-]{1,62}$", description: "Only this speech provider's voices" }),
    ),
    gender: t.Optional(Gender),
    language: t.Optional(
      t.String({
        pattern: "^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$",
        description: "Voices labelled with this language code (voices without a language label are left out)",
      }),
    ),
  }),
]);
const security = [{ bearer: [] }];

/** The voice library: the voices of each speech provider, for choosing a character's or the narrator's voice. */
export function voicesModule(deps: Deps) {
  const { db } = deps;
  return new Elysia({ name: "voices", prefix: "/api/v1/voices", tags: ["voices"] })
    .use(authGuard(deps))
    .get(
      "",
      async ({ query }) => {
        const { provider, page = 1, page_size = 20, ...filters } = query;
        return ok(await listVoices(db, provider, { ...filters, page, page_size }));
      },
      {
        auth: true,
        query: Query,
        response: { 200: Envelope(PageOf(VoiceSchema)), ...ErrorResponses },
        detail: {
          summary: "Voices of the voice library, by provider, gender and language",
          description:
            "Lists the voices stored in the voice library, by provider, name and voice_id. Listing never asks a provider: the library is filled and refreshed (when older than a day) by the pipeline's characters stage, and at once by POST /voices/sync. Local speech also accepts any other name as a voice.",
          security,
        },
      },
    )
    .post(
      "/sync",
      async ({ caller }) => {
        const speech = (await deps.providers.forScope({ userId: caller.user.id })).speech;
        try {
          const { voices } = await refreshVoices(db, speech, {
            maxAgeMs: 0,
            keepStoredOnFailure: false,
            signal: AbortSignal.timeout(60_000),
          });
          deps.log.info("voice library synced", {
            user_id: caller.user.id,
            provider: speech.provider,
            voices: voices.length,
          });
          return ok({ provider: speech.provider, voices: voices.length });
        } catch (e) {
          const timedOut = e instanceof Error && e.name === "TimeoutError";
          throw isProviderFailure(e) || timedOut
            ? new AiServiceError("speech", speech.provider, speech.modelId, { userId: caller.user.id }, e)
            : e;
        }
      },
      {
        admin: true,
        response: { 200: Envelope(t.Object({ provider: t.String(), voices: t.Integer() })), ...ErrorResponses },
        detail: {
          summary: "Refresh the voice library from the current speech provider now (ADMIN)",
          description:
            "Asks the speech provider heading the speech chain for its voices and replaces its part of the library. A provider failure answers 502 AI_SERVICE_ERROR naming the provider and model.",
          security,
        },
      },
    );
}
