import type { Config } from "../config.ts";
import type { Capability } from "../core/capabilities.ts";
import { notFound } from "../core/errors.ts";
import type { TaskParams } from "../core/generation-task.ts";
import type { Db } from "../db/client.ts";
import type { RegeneratePayload } from "../pipeline/jobs.ts";
import type { ModelPin } from "../providers/registry.ts";
import { requireModel } from "./models.ts";

/** How a creator steers a regeneration (the routes' schema: schemas/regenerate.ts). */
export interface Steer {
  seed?: number;
  prompt?: string;
  user_prompt?: string;
  model_id?: string;
  reference_asset_ids?: string[];
}

/** A seed for a regeneration that names none: another candidate each time. */
export const freshSeed = () => Math.floor(Math.random() * 1_000_000) + 1;

type Steering = Pick<RegeneratePayload, "seed" | "prompt" | "user_prompt" | "reference_asset_ids" | "model">;

/**
 * A regeneration's steering checked and split into what its job needs and what its task shows: the
 * model must be one of the capability's choices (400), every reference a picture of this project
 * (404 otherwise, as for any id the caller may not see). Without a seed, a fresh one. `pin` is the
 * chosen model as the provider registry takes it (what the work is priced on).
 */
export async function steering(
  deps: { db: Db; config: Config },
  { projectId, capability }: { projectId: string; capability: Capability },
  s: Steer,
): Promise<{ job: Steering; params: TaskParams; pin?: ModelPin }> {
  const model = s.model_id ? await requireModel(deps, capability, s.model_id) : undefined;
  const refs = s.reference_asset_ids ?? [];
  if (refs.length > 0) {
    const found = await deps.db
      .selectFrom("assets")
      .select("id")
      .where("id", "in", refs)
      .where("project_id", "=", projectId)
      .where("mime_type", "like", "image/%")
      .execute();
    if (found.length !== refs.length) throw notFound("reference asset");
  }
  const seed = s.seed ?? freshSeed();
  const given = {
    ...(s.prompt ? { prompt: s.prompt } : {}),
    ...(s.user_prompt ? { user_prompt: s.user_prompt } : {}),
    ...(refs.length > 0 ? { reference_asset_ids: refs } : {}),
  };
  return {
    job: { seed, ...given, ...(model ? { model } : {}) },
    params: { seed, ...given, ...(s.model_id ? { model_id: s.model_id } : {}) },
    ...(model ? { pin: { capability, ...model } } : {}),
  };
}
