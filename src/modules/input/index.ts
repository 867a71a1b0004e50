import { Elysia, t } from "elysia";
import { CAPABILITIES } from "../../core/capabilities.ts";
import type { Deps } from "../../deps.ts";
import { authGuard } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok } from "../../http/envelope.ts";
import { inputOptions } from "./service.ts";

const security = [{ bearer: [] }];

const ModelOption = t.Object({
  id: t.String({ description: "provider/model, as `model_id` fields take it" }),
  provider: t.String(),
  model: t.String(),
  is_default: t.Boolean({ description: "The head of the capability's chain" }),
});

const InputOptionsSchema = t.Object({
  input_types: t.Array(
    t.Object({
      id: t.Union([t.Literal("novel"), t.Literal("script"), t.Literal("storyboard")]),
      description: t.String(),
    }),
  ),
  styles: t.Array(
    t.Object({
      id: t.String(),
      name: t.String(),
      category: t.String(),
      preview_image_url: t.String({ description: "Signed, expiring: a sample scene in this style" }),
    }),
  ),
  aspect_ratios: t.Array(
    t.Object({ ratio: t.String(), width: t.Integer(), height: t.Integer(), description: t.String() }),
  ),
  durations: t.Array(t.Object({ label: t.String(), value: t.Integer({ description: "Seconds; -1: smart" }) })),
  languages: t.Array(t.Object({ id: t.Union([t.Literal("zh"), t.Literal("en")]), name: t.String() })),
  fonts: t.Array(t.Object({ name: t.String() })),
  models: t.Object(Object.fromEntries(CAPABILITIES.map((c) => [c, t.Array(ModelOption)]))),
});

/** What the new-project form offers (seed 003 §2.1.1), from the code's presets and the provider registry. */
export function inputModule(deps: Deps) {
  return new Elysia({ prefix: "/api/v1/input", tags: ["projects"] })
    .use(authGuard(deps))
    .get("/options", async () => ok(await inputOptions(deps)), {
      auth: true,
      response: { 200: Envelope(InputOptionsSchema), ...ErrorResponses },
      detail: {
        summary: "Input modes, styles with previews, aspect ratios, durations, languages, fonts and models",
        security,
      },
    });
}
