import { t } from "elysia";

// How a creator steers a regeneration (seed 003 §4.2): the timeline's and the material package's
// regenerate routes take the same fields.

const text = (description: string) => t.Optional(t.String({ minLength: 1, maxLength: 4000, description }));

export const SteerFields = {
  seed: t.Optional(t.Integer({ minimum: 1, maximum: 2_147_483_647 })),
  prompt: text("A prompt of your own in place of ours (the art style still leads it)"),
  user_prompt: text('An instruction added to the current prompt, e.g. "make it night, rain on the window"'),
  model_id: t.Optional(
    t.String({
      minLength: 3,
      maxLength: 200,
      description: "A model from GET /api/v1/input/options (`<provider>/<model>`); it alone serves this request",
    }),
  ),
};

export const ImageSteerFields = {
  ...SteerFields,
  reference_asset_ids: t.Optional(
    t.Array(t.String({ format: "uuid" }), {
      maxItems: 4,
      uniqueItems: true,
      description: "Pictures of this project for the image model to follow (besides the characters' sheets)",
    }),
  ),
};
