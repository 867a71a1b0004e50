import type { Config } from "../../config.ts";
import { conflict, notFound } from "../../core/errors.ts";
import type { GenerationKind } from "../../core/generation.ts";
import type { Stage } from "../../core/stages.ts";
import type { Db } from "../../db/client.ts";
import { estimateGeneration, estimateRun } from "../../pipeline/estimate.ts";
import { continueFrom, stagesBetween } from "../../pipeline/orchestrate.ts";
import type { Estimate } from "../../providers/compute-ledger.ts";
import type { ProviderResolver } from "../../providers/registry.ts";
import { accountSummary, ledgerPage, mySummary, spaceAccount, userAccount } from "../../services/compute.ts";
import { resolveModel } from "../../services/generation-models.ts";
import { requireProject } from "../../services/project-access.ts";
import { requireSpaceRole } from "../../services/spaces.ts";

type Deps = { db: Db; config: Config; providers: ProviderResolver };

export type EstimateRequest =
  | { kind: "run"; project_id: string; from_stage?: Stage; to_stage?: Stage }
  | {
      kind: "generate";
      type: GenerationKind;
      model?: string;
      prompt?: string;
      num_images?: number;
      duration?: number;
      with_image?: boolean;
    };

/** A run as POST /projects/:id/runs would start it now: the stages it would run, on the project's chains. */
async function runEstimate(deps: Deps, userId: string, r: Extract<EstimateRequest, { kind: "run" }>) {
  const project = await requireProject(deps.db, { userId, projectId: r.project_id }, "viewer");
  if (!project.has_input) throw conflict("the project has no story yet: give it one with POST /projects/:id/input");
  const packageId = project.active_package_id;
  const from = r.from_stage ?? (packageId ? await continueFrom(deps.db, packageId) : "storyline");
  const providers = await deps.providers.forScope({ userId, spaceId: project.space_id });
  return estimateRun(deps.db, deps.config.compute, providers, {
    packageId,
    inputText: project.input_text,
    stages: stagesBetween(from, r.to_stage ?? "export"),
  });
}

/** A direct generation as POST /generate/* would queue it, on the model it would ask. */
async function generationEstimate(deps: Deps, userId: string, r: Extract<EstimateRequest, { kind: "generate" }>) {
  const medium = r.type === "text_to_image" || r.type === "image_to_image" ? "image" : "video";
  const model = await resolveModel(deps, medium, r.model);
  const providers = await deps.providers.forScope(
    { userId },
    model.asked ? { capability: medium, provider: model.provider, model: model.model } : undefined,
  );
  return estimateGeneration(deps.config.compute, providers, {
    kind: r.type,
    params: {
      prompt: r.prompt ?? "",
      seed: 0,
      width: 1024,
      height: 1024,
      ...(r.num_images ? { num_images: r.num_images } : {}),
      ...(r.duration ? { duration_s: r.duration } : {}),
      ...(r.with_image ? { image: { storage_key: "", mime_type: "image/png" } } : {}),
    },
  });
}

/** POST /estimates: what the request would reserve, without reserving anything. */
export function estimate(deps: Deps, userId: string, r: EstimateRequest): Promise<Estimate> {
  return r.kind === "run" ? runEstimate(deps, userId, r) : generationEstimate(deps, userId, r);
}

export const myComputePower = (deps: Deps, userId: string) => mySummary(deps.db, deps.config, userId);

export async function myLedger(deps: Deps, userId: string, q: { page?: number; page_size?: number }) {
  return ledgerPage(deps.db, await userAccount(deps.db, deps.config, userId), q);
}

/** A team space's account: its admins see it (others 404, like the space itself). */
async function adminsSpaceAccount(deps: Deps, ids: { userId: string; spaceId: string }) {
  const { db } = deps;
  const space = await db.selectFrom("spaces").select("type").where("id", "=", ids.spaceId).executeTakeFirst();
  if (!space) throw notFound("space");
  await requireSpaceRole(db, ids, "admin");
  if (space.type !== "team") throw notFound("space account");
  return spaceAccount(db, deps.config, ids.spaceId);
}

export async function spaceComputePower(deps: Deps, ids: { userId: string; spaceId: string }) {
  return accountSummary(deps.db, await adminsSpaceAccount(deps, ids), null);
}

export async function spaceLedger(
  deps: Deps,
  ids: { userId: string; spaceId: string },
  q: { page?: number; page_size?: number },
) {
  return ledgerPage(deps.db, await adminsSpaceAccount(deps, ids), q);
}
