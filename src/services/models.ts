import type { Config } from "../config.ts";
import { CAPABILITIES, type Capability } from "../core/capabilities.ts";
import { validation } from "../core/errors.ts";
import type { Db } from "../db/client.ts";
import { hasKey, listProviders, loadChains } from "../providers/settings.ts";

export interface ModelChoice {
  /** `<provider>/<model>`: what a client sends as `model_id`. */
  id: string;
  provider: string;
  model: string;
  is_default: boolean;
}

/** The models a client may pick per capability: those of enabled providers with a key, the chain's head marked. */
export async function modelChoices(db: Db, config: Config): Promise<Record<Capability, ModelChoice[]>> {
  const [providers, chains] = await Promise.all([listProviders(db), loadChains(db, config)]);
  const usable = providers.filter((p) => p.enabled && hasKey(config, p));
  const out = {} as Record<Capability, ModelChoice[]>;
  for (const capability of CAPABILITIES) {
    const head = chains[capability][0];
    out[capability] = usable.flatMap((p) =>
      (p.models[capability] ?? []).map((model) => ({
        id: `${p.id}/${model}`,
        provider: p.id,
        model,
        is_default: head?.provider === p.id && head.model === model,
      })),
    );
  }
  return out;
}

/** The provider and model a `model_id` names, if it is one of the capability's choices (400 otherwise). */
export async function requireModel(
  { db, config }: { db: Db; config: Config },
  capability: Capability,
  modelId: string,
): Promise<{ provider: string; model: string }> {
  const choice = (await modelChoices(db, config))[capability].find((m) => m.id === modelId);
  if (!choice)
    throw validation(
      [{ path: "/model_id", message: `no usable ${capability} model "${modelId}": see GET /api/v1/input/options` }],
      `unknown ${capability} model`,
    );
  return { provider: choice.provider, model: choice.model };
}
