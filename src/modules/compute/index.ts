import { Elysia, t } from "elysia";
import { COVER_TYPES } from "../../core/export-record.ts";
import { GENERATION_KINDS } from "../../core/generation.ts";
import { literals } from "../../core/schema.ts";
import { STAGES } from "../../core/stages.ts";
import type { Deps } from "../../deps.ts";
import { authGuard } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok, PageOf, PageQuery } from "../../http/envelope.ts";
import { REGENERATION_WHATS } from "../../pipeline/estimate.ts";
import { ComputeSummarySchema, EstimateSchema, LedgerEntrySchema } from "../../schemas/compute.ts";
import * as compute from "./service.ts";

const security = [{ bearer: [] }];
const uuid = t.String({ format: "uuid" });

const ModelId = t.Optional(
  t.String({
    minLength: 3,
    maxLength: 200,
    description: "A model from GET /api/v1/input/options (`<provider>/<model>`)",
  }),
);

const EstimateBody = t.Union([
  t.Object({
    kind: t.Literal("run"),
    project_id: uuid,
    from_stage: t.Optional(literals(STAGES)),
    to_stage: t.Optional(literals(STAGES)),
  }),
  t.Object({
    kind: t.Literal("generate"),
    type: literals(GENERATION_KINDS),
    model: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
    prompt: t.Optional(t.String({ maxLength: 4000 })),
    num_images: t.Optional(t.Integer({ minimum: 1, maximum: 4 })),
    duration: t.Optional(t.Number({ minimum: 1, maximum: 60 })),
    with_image: t.Optional(
      t.Boolean({ description: "A source picture will be sent (a story video then paints none)" }),
    ),
  }),
  t.Object({
    kind: t.Literal("regenerate"),
    project_id: uuid,
    what: literals(REGENERATION_WHATS),
    target: t.Optional(
      t.String({
        minLength: 1,
        maxLength: 64,
        description:
          "The clip for keyframe, clip and voice; a character's name (reference) or a scene id (scene_image)",
      }),
    ),
    count: t.Optional(t.Integer({ minimum: 1, maximum: 4, description: "Music tracks asked for (default 2)" })),
    model_id: ModelId,
  }),
  t.Object({
    kind: t.Literal("batch_video"),
    project_id: uuid,
    clip_ids: t.Optional(
      t.Array(t.String({ pattern: "^[\\w.-]{1,64}$" }), {
        minItems: 1,
        maxItems: 500,
        description: "Left out: every clip that has a keyframe and no video yet",
      }),
    ),
    model_id: ModelId,
  }),
  t.Object({
    kind: t.Literal("export"),
    project_id: uuid,
    cover: t.Optional(t.Object({ enabled: t.Boolean(), cover_type: t.Optional(literals(COVER_TYPES)) })),
  }),
]);

/** Compute power (算力): estimates before paying, the balance, and the ledger of every change. */
export function computeModule(deps: Deps) {
  return new Elysia({ prefix: "/api/v1", tags: ["compute"] })
    .use(authGuard(deps))
    .post("/estimates", async ({ body, caller }) => ok(await compute.estimate(deps, caller.user.id, body)), {
      auth: true,
      body: EstimateBody,
      response: { 200: Envelope(EstimateSchema), ...ErrorResponses },
      detail: {
        summary: "What a run, a generation, a regeneration, a batch of clip videos or an export would cost, in points",
        description:
          "Priced on the models the work would call now (each capability's chain head, or the model named) and on the project's real storyboard once it has one. Nothing is reserved: the paid request reserves its own estimate and answers with it (`compute`).",
        security,
      },
    })
    .get("/me/compute-power", async ({ caller }) => ok(await compute.myComputePower(deps, caller.user.id)), {
      auth: true,
      response: { 200: Envelope(ComputeSummarySchema), ...ErrorResponses },
      detail: {
        summary: "My compute power: granted and bought, used, held by work in progress, free to spend",
        security,
      },
    })
    .get("/me/ledger", async ({ caller, query }) => ok(await compute.myLedger(deps, caller.user.id, query)), {
      auth: true,
      query: PageQuery,
      response: { 200: Envelope(PageOf(LedgerEntrySchema)), ...ErrorResponses },
      detail: { summary: "Every change to my compute power, newest first", security },
    })
    .get(
      "/spaces/:id/compute-power",
      async ({ caller, params }) =>
        ok(await compute.spaceComputePower(deps, { userId: caller.user.id, spaceId: params.id })),
      {
        spaceRole: "admin",
        params: t.Object({ id: uuid }),
        response: { 200: Envelope(ComputeSummarySchema), ...ErrorResponses },
        detail: { summary: "A team space's compute power (its members' work draws from it); space admins", security },
      },
    )
    .get(
      "/spaces/:id/ledger",
      async ({ caller, params, query }) =>
        ok(await compute.spaceLedger(deps, { userId: caller.user.id, spaceId: params.id }, query)),
      {
        spaceRole: "admin",
        params: t.Object({ id: uuid }),
        query: PageQuery,
        response: { 200: Envelope(PageOf(LedgerEntrySchema)), ...ErrorResponses },
        detail: { summary: "A team space's compute-power ledger, newest first; space admins", security },
      },
    );
}
