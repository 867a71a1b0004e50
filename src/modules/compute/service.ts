import type { Config } from "../../config.ts";
import type { Capability } from "../../core/capabilities.ts";
import { conflict, notFound, validation } from "../../core/errors.ts";
import type { CoverType } from "../../core/export-record.ts";
import type { GenerationKind } from "../../core/generation.ts";
import type { Stage } from "../../core/stages.ts";
import type { Db } from "../../db/client.ts";
import {
  estimateExport,
  estimateGeneration,
  estimateRegenerations,
  estimateRun,
  type RegenerationWhat,
} from "../../pipeline/estimate.ts";
import { exportDefaults } from "../../pipeline/export.ts";
import { REGENERATE_CAPABILITY } from "../../pipeline/jobs.ts";
import { continueFrom, stagesBetween } from "../../pipeline/orchestrate.ts";
import { loadShots } from "../../pipeline/packages.ts";
import type { Estimate } from "../../providers/compute-ledger.ts";
import type { ProviderResolver } from "../../providers/registry.ts";
import { accountSummary, ledgerPage, mySummary, spaceAccount, userAccount } from "../../services/compute.ts";
import { resolveModel } from "../../services/generation-models.ts";
import { requireModel } from "../../services/models.ts";
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
    }
  | {
      kind: "regenerate";
      project_id: string;
      what: RegenerationWhat;
      /** A clip (shot) id for keyframe, clip and voice; a character's name or a scene id for their pictures. */
      target?: string;
      count?: number;
      model_id?: string;
    }
  | { kind: "batch_video"; project_id: string; clip_ids?: string[]; model_id?: string }
  | { kind: "export"; project_id: string; cover?: { enabled: boolean; cover_type?: CoverType } };

/** The project's package as a regeneration or an export would find it: there must be one (409). */
async function activePackageOf(deps: Deps, { userId, projectId }: { userId: string; projectId: string }) {
  const project = await requireProject(deps.db, { userId, projectId }, "viewer");
  if (!project.active_package_id) throw conflict("the project has no material package yet: run the pipeline first");
  return { project, packageId: project.active_package_id };
}

/** The providers the regeneration would call: the payer's chains, or the model named (400 when it is not a choice). */
async function regenerationProviders(
  deps: Deps,
  r: { userId: string; spaceId: string; capability: Capability; modelId?: string | undefined },
) {
  const model = r.modelId ? await requireModel(deps, r.capability, r.modelId) : undefined;
  return deps.providers.forScope(
    { userId: r.userId, spaceId: r.spaceId },
    model ? { capability: r.capability, ...model } : undefined,
  );
}

/** One regeneration as the regenerate routes would queue it (a clip's picture, video or lines, music tracks). */
async function regenerationEstimate(deps: Deps, userId: string, r: Extract<EstimateRequest, { kind: "regenerate" }>) {
  const { project, packageId } = await activePackageOf(deps, { userId, projectId: r.project_id });
  const perShot = r.what === "keyframe" || r.what === "clip" || r.what === "voice";
  if (perShot && !r.target)
    throw validation([{ path: "/target", message: `name the clip whose ${r.what} is made again` }]);
  if (perShot && !(await loadShots(deps.db, packageId)).some((s) => s.id === r.target)) throw notFound("clip");
  const capability = REGENERATE_CAPABILITY[r.what];
  const providers = await regenerationProviders(deps, {
    userId,
    spaceId: project.space_id,
    capability,
    modelId: r.model_id,
  });
  return estimateRegenerations(deps.db, deps.config.compute, providers, {
    packageId,
    works: [{ what: r.what, target: r.target ?? packageId, count: r.count ?? 2 }],
  });
}

/** A batch of clip videos as POST /projects/:id/clips/generate-videos would queue it (no clips named: those with a keyframe and no video). */
async function batchEstimate(deps: Deps, userId: string, r: Extract<EstimateRequest, { kind: "batch_video" }>) {
  const { project, packageId } = await activePackageOf(deps, { userId, projectId: r.project_id });
  const shots = await loadShots(deps.db, packageId);
  const ids =
    r.clip_ids ?? shots.filter((s) => s.keyframe.selected !== null && s.clip.selected === null).map((s) => s.id);
  const known = new Set(shots.map((s) => s.id));
  if (ids.some((id) => !known.has(id))) throw notFound("clip");
  const providers = await regenerationProviders(deps, {
    userId,
    spaceId: project.space_id,
    capability: "video",
    modelId: r.model_id,
  });
  return estimateRegenerations(deps.db, deps.config.compute, providers, {
    packageId,
    works: [...new Set(ids)].map((target) => ({ what: "clip" as const, target })),
  });
}

/** A standalone export as POST /projects/:id/exports would reserve it now. */
async function exportEstimate(deps: Deps, userId: string, r: Extract<EstimateRequest, { kind: "export" }>) {
  const { project, packageId } = await activePackageOf(deps, { userId, projectId: r.project_id });
  const providers = await deps.providers.forScope({ userId, spaceId: project.space_id });
  const options = exportDefaults(r.cover ? { cover: r.cover } : undefined, project.options);
  return estimateExport(deps.db, deps.config.compute, providers, { packageId, options });
}

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
  switch (r.kind) {
    case "run":
      return runEstimate(deps, userId, r);
    case "generate":
      return generationEstimate(deps, userId, r);
    case "regenerate":
      return regenerationEstimate(deps, userId, r);
    case "batch_video":
      return batchEstimate(deps, userId, r);
    case "export":
      return exportEstimate(deps, userId, r);
  }
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
