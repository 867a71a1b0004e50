import { Elysia, t } from "elysia";
import type { Deps } from "../../deps.ts";
import { authGuard } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok, PageOf, PageQuery } from "../../http/envelope.ts";
import { configHistory, configView, patchConfig, RUNTIME_SETTINGS } from "../../services/runtime-config.ts";

const security = [{ bearer: [] }];
const iso = t.String({ format: "date-time" });
const names = Object.keys(RUNTIME_SETTINGS);
const Value = t.Union([t.String({ minLength: 1, maxLength: 64 }), t.Number(), t.Null()]);

const ConfigSchema = t.Object({
  version: t.Integer({ description: "Bumped by every change (0: the environment's values only)" }),
  applied_version: t.Integer({
    description: "The version this API process has applied (others follow within a second)",
  }),
  updated_at: iso,
  updated_by: t.Nullable(t.String({ format: "uuid" })),
  overrides: t.Record(t.String(), t.String(), { description: "What is set here, over the environment" }),
  values: t.Record(t.String(), t.String(), { description: "Every run-time setting's value in effect" }),
  editable: t.Array(t.String(), { description: "The settings PATCH takes (environment variable names)" }),
});

const ChangeSchema = t.Record(t.String(), t.Nullable(t.String()));
const HistoryEntry = t.Object({
  version: t.Integer(),
  actor_id: t.Nullable(t.String({ format: "uuid" })),
  actor_username: t.Nullable(t.String()),
  changed_at: iso,
  before: ChangeSchema,
  after: ChangeSchema,
});

/** Global configuration at run time (seed 000's /admin/config), for ADMINs. */
export function adminConfigModule(deps: Deps) {
  return new Elysia({ prefix: "/api/v1/admin/config", tags: ["operations"] })
    .use(authGuard(deps))
    .get("", async () => ok(await configView(deps)), {
      admin: true,
      response: { 200: Envelope(ConfigSchema), ...ErrorResponses },
      detail: {
        summary: "The run-time settings in effect: tiers and limits, prices, rate and upload limits",
        security,
      },
    })
    .patch("", async ({ body, caller }) => ok(await patchConfig(deps, { actorId: caller.user.id, set: body.set })), {
      admin: true,
      body: t.Object(
        {
          set: t.Record(t.String({ minLength: 1, maxLength: 64 }), Value, {
            minProperties: 1,
            maxProperties: names.length,
            description: "Settings by environment variable name; null puts one back to the environment's value",
          }),
        },
        { additionalProperties: false, examples: [{ set: { COMPUTE_MARKUP: "1.2", LIMIT_FREE_MONTHLY_POINTS: 800 } }] },
      ),
      response: { 200: Envelope(ConfigSchema), ...ErrorResponses },
      detail: {
        summary: "Change run-time settings (ADMIN); every API and worker process applies them within a second",
        description: `Checked with the environment's own rules: a bad value is 400 naming the field (\`/set/<NAME>\`), an unknown name 400. Every change is recorded (GET /admin/config/history) and announced to every process (NOTIFY, with a one-second poll as backup). Settings: ${names.join(", ")}.`,
        security,
      },
    })
    .get("/history", async ({ query }) => ok(await configHistory(deps.db, query)), {
      admin: true,
      query: PageQuery,
      response: { 200: Envelope(PageOf(HistoryEntry)), ...ErrorResponses },
      detail: { summary: "Every change of the run-time settings: who, when, before and after, newest first", security },
    });
}
