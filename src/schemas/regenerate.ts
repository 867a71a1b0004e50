import { t } from "elysia";
import { ReservedSchema } from "./compute.ts";

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

const uuid = t.String({ format: "uuid" });

/** What a regenerate route answers (202): the tasks it queued and the compute power it reserved. */
export const QueuedTasks = t.Object({
  task_ids: t.Array(uuid, { description: "The generation tasks (GET /api/v1/tasks/:id), one per clip or target" }),
  job_ids: t.Array(uuid, { description: "Their jobs on the queue" }),
  generation_status: t.Literal("pending"),
  compute: t.Nullable(ReservedSchema),
});
