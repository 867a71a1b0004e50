import { Elysia, t } from "elysia";
import type { Deps } from "../../deps.ts";
import { authGuard } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok, PageOf, PageQuery } from "../../http/envelope.ts";
import { listVoices } from "../../voices/library.ts";

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
    provider: t.Optional(t.String({ pattern: "^[a-z0-9][a-z0-9-]{1,62}$", description: "Only this speech provider's voices" })),
    gender: t.Optional(Gender),
    language: t.Optional(t.String({ pattern: "^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$", description: "Voices labelled with this language code (voices without a language label are left out)" })),
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
          summary: "Voices of the voice library, by provider, gender and language (read from the library table only: the pipeline, in the worker, fills it from the providers)",
          description:
            "Lists the voices stored in the voice library, by provider, name and voice_id. The API process holds no provider instances and never asks a provider: the library is filled and refreshed (when older than a day) by the pipeline's characters stage, which runs in the worker, so a speech provider no run has used yet has no voices here. Local speech also accepts any other name as a voice.",
          security,
        },
      },
    );
}
