import type { Config } from "../config.ts";
import type { Capability } from "../core/capabilities.ts";
import type { Db } from "../db/client.ts";
import type { Logger } from "../log.ts";
import { noProviderCalls, type ProviderCallObserver } from "../metrics/observers.ts";
import { noSpans, type SpanRecorder } from "../metrics/spans.ts";
import { publicOnlyFetch } from "../net/public-fetch.ts";
import { assertPublicUrl } from "../net/ssrf.ts";
import type { CallScope } from "./ai-error.ts";
import { chainedProviders, type Link, type ProviderLinks } from "./chain.ts";
import {
  type ComfyConnectionOptions,
  createComfyImage,
  createComfyVideo,
  findWorkflow,
  pgPromptStore,
  reportJobProgress,
} from "./comfyui/index.ts";
import { createElevenLabsMusic, createElevenLabsSpeech } from "./elevenlabs/index.ts";
import { createFalImage, createFalVideo, type FalConnectionOptions } from "./fal/index.ts";
import { pgRequestStore } from "./fal/pg-store.ts";
import { createLocalImage } from "./local/image.ts";
import { createLocalMotion } from "./local/motion.ts";
import { createLocalMusic } from "./local/music.ts";
import type { PaintCache } from "./local/painter.ts";
import { createLocalSpeech } from "./local/speech.ts";
import { createLocalText } from "./local/text.ts";
import { createOpenAIImage, createOpenAIText, createOpenAIVideo } from "./openai/index.ts";
import { type SecretBox, secretBox, serverSecret } from "./secrets.ts";
import { envKey, hasKey, listProviders, loadChains, type ProviderRecord } from "./settings.ts";
import type { Providers } from "./types.ts";

export type { Providers };

type Model = Providers[Capability];

/**
 * Where pipeline steps get their models: the chains stored in Postgres (or the environment's),
 * bound to the step's scope so every call lands in the cost ledger with its user, project, run,
 * stage and shot.
 */
/** One model a creator chose for a call (`model_id`): it alone serves that capability, with no failover to others. */
export interface ModelPin {
  capability: Capability;
  provider: string;
  model: string;
}

export interface ProviderResolver {
  forScope(scope: CallScope, pin?: ModelPin): Promise<Providers>;
  /** The provider heading a capability's chain and its concurrency setting (for queue concurrency keys). */
  head(capability: Capability): Promise<{ provider: string; concurrency: number | null }>;
}

export interface ResolverOptions {
  config: Config;
  db: Db;
  log: Logger;
  /** Wakes a job waiting on a fal request when its webhook arrives (see fal/webhook-waiter.ts). */
  falWait?: FalConnectionOptions["wait"];
  /** Times every provider call (the pipeline benchmark); by default nothing is recorded. */
  spans?: SpanRecorder;
  /** Told of every provider call (the process's metrics); by default nobody is. */
  calls?: ProviderCallObserver;
  /** What the local painter drew, kept for the next picture (the worker's); by default nothing is kept. */
  paints?: PaintCache;
}

/** fal's API hosts, routed through FAL_BASE_URL (a proxy) when it is set. */
function falHosts(baseUrl: string | null): Pick<FalConnectionOptions, "requestMiddleware"> {
  if (!baseUrl) return {};
  return {
    requestMiddleware: async (r) => ({
      ...r,
      url: r.url.replace(/^https:\/\/(queue\.fal\.run|rest\.fal\.ai)/, baseUrl),
    }),
  };
}

/** Builds the model a link names, with its key; built-in providers fall back to the environment's settings. */
function instantiate(o: ResolverOptions, capability: Capability, p: ProviderRecord, model: string, key: string): Model {
  const { config, db } = o;
  if (p.kind === "local") {
    return {
      text: createLocalText,
      image: () => createLocalImage(o.paints),
      video: () => createLocalMotion(o.paints),
      speech: () => createLocalSpeech(),
      music: createLocalMusic,
    }[capability]();
  }
  // A URL an ADMIN set is fetched only through the SSRF guard; the environment's are the operator's.
  const guard = p.base_url ? { fetch: publicOnlyFetch(config.allowPrivateProviderUrls) } : {};
  // A provider that never answers must fail (and fail over) within the configured time.
  const limit = config.providerRequestTimeoutMs;
  const openaiTimeout = limit === null ? {} : { timeoutMs: limit };
  const elevenTimeout = limit === null ? {} : { timeoutInSeconds: limit / 1000 };
  if (p.kind === "openai" || p.kind === "openai_compatible") {
    const baseUrl = p.base_url ?? (p.kind === "openai" ? config.cloud.openai.baseUrl : null) ?? undefined;
    // Custom openai_compatible endpoints stay on Chat Completions, the API they all speak.
    if (capability === "text")
      return createOpenAIText({
        apiKey: key,
        baseUrl,
        model,
        ...guard,
        ...openaiTimeout,
        ...(p.kind === "openai" ? { api: config.cloud.openai.textApi } : {}),
      });
    if (capability === "image") return createOpenAIImage({ apiKey: key, baseUrl, model, ...guard, ...openaiTimeout });
    // Sora renders for minutes: the video id is kept in provider_requests, so a rescued job resumes it.
    if (capability === "video")
      return createOpenAIVideo({
        apiKey: key,
        baseUrl,
        model,
        ...guard,
        ...openaiTimeout,
        pollIntervalMs: config.cloud.openai.videoPollIntervalMs,
        requests: pgRequestStore(db),
      });
  }
  if (p.kind === "fal") {
    const fal = config.cloud.fal;
    const connection: FalConnectionOptions = {
      key,
      ...guard,
      ...falHosts(p.base_url ?? fal.baseUrl),
      ...(fal.pollIntervalMs ? { pollIntervalMs: fal.pollIntervalMs } : {}),
      orphanWaitMs: fal.orphanWaitMs,
      ...(fal.webhookUrl && o.falWait ? { webhookUrl: fal.webhookUrl, wait: o.falWait } : {}),
    };
    if (capability === "image") return createFalImage({ ...connection, model, requests: pgRequestStore(db) });
    if (capability === "video") return createFalVideo({ ...connection, model, requests: pgRequestStore(db) });
  }
  if (p.kind === "comfyui") {
    const comfy = config.cloud.comfyui;
    const connection: ComfyConnectionOptions = {
      url: (p.base_url ?? comfy.url)!,
      apiKey: key || null,
      ...guard,
      // The WebSocket bypasses fetch: an ADMIN's URL is checked before it is opened too.
      ...(p.base_url
        ? {
            checkUrl: (u: string) =>
              assertPublicUrl(u, { allowPrivate: config.allowPrivateProviderUrls }).then(() => {}),
          }
        : {}),
      ...(limit === null ? {} : { requestTimeoutMs: limit }),
      pollIntervalMs: comfy.pollIntervalMs,
      prompts: pgPromptStore(db),
      workflows: (name) => findWorkflow(db, name),
      jobProgress: (job, percent, message) => reportJobProgress(db, job, percent, message),
    };
    if (capability === "image") return createComfyImage({ ...connection, workflow: model });
    if (capability === "video") return createComfyVideo({ ...connection, workflow: model, fps: comfy.videoFps });
  }
  if (p.kind === "elevenlabs") {
    const baseUrl = p.base_url ?? config.cloud.elevenlabs.baseUrl ?? undefined;
    if (capability === "speech")
      return createElevenLabsSpeech({ apiKey: key, baseUrl, modelId: model, ...guard, ...elevenTimeout });
    if (capability === "music")
      return createElevenLabsMusic({ apiKey: key, baseUrl, modelId: model, ...guard, ...elevenTimeout });
  }
  throw new RangeError(`provider ${p.id} (${p.kind}) does not serve ${capability}`);
}

export function createProviderResolver(o: ResolverOptions): ProviderResolver {
  const { config, db, log } = o;
  const spans = o.spans ?? noSpans;
  const calls = o.calls ?? noProviderCalls;
  let box: Promise<SecretBox> | null = null;
  // Models are built once per provider, model and key (the SDK clients inside are reusable).
  const built = new Map<string, Model>();

  async function keyOf(p: ProviderRecord): Promise<string | null> {
    if (p.kind === "local") return "";
    // ComfyUI is usable with a server URL; its key (a proxy's token) is optional.
    if (p.kind === "comfyui" && !hasKey(config, p)) return null;
    if (p.kind === "comfyui" && !p.api_key_enc) return p.id === "comfyui" ? (config.cloud.comfyui.apiKey ?? "") : "";
    if (p.api_key_enc) {
      box ??= serverSecret(config).then(secretBox);
      try {
        return (await box).open(p.api_key_enc);
      } catch {
        log.error("a stored provider key cannot be opened with this server's PROVIDER_SECRET_KEY", { provider: p.id });
        return null;
      }
    }
    return envKey(config, p.id);
  }

  async function publicEnough(p: ProviderRecord): Promise<boolean> {
    try {
      await assertPublicUrl(p.base_url!, { allowPrivate: config.allowPrivateProviderUrls });
      return true;
    } catch (e) {
      log.warn("a provider's URL fails the SSRF check now: its links are skipped", {
        provider: p.id,
        url: p.base_url,
        reason: e instanceof Error ? e.message : String(e),
      });
      return false;
    }
  }

  /** The usable links of every capability's chain: enabled providers that have a key. */
  async function links(pin?: ModelPin): Promise<ProviderLinks> {
    const [stored, records] = await Promise.all([loadChains(db, config), listProviders(db)]);
    const chains = pin ? { ...stored, [pin.capability]: [{ provider: pin.provider, model: pin.model }] } : stored;
    const byId = new Map(records.map((r) => [r.id, r]));
    const out = {} as Record<Capability, Link<Model>[]>;
    for (const [capability, chain] of Object.entries(chains) as Array<[Capability, typeof chains.text]>) {
      out[capability] = [];
      for (const { provider, model } of chain) {
        const record = byId.get(provider);
        if (!record?.enabled) continue;
        const key = await keyOf(record);
        if (key === null) continue;
        // Checked when saved, here, and on every request (publicOnlyFetch): the name may since resolve inside.
        if (record.base_url && !(await publicEnough(record))) continue;
        const id = `${capability}|${provider}|${model}|${record.base_url ?? ""}|${record.api_key_enc ?? ""}`;
        let instance = built.get(id);
        if (!instance) {
          instance = instantiate(o, capability, record, model, key);
          built.set(id, instance);
        }
        out[capability].push({ record, model, instance });
      }
    }
    // instantiate(capability, …) builds that capability's model, so each list holds its own kind.
    return out as ProviderLinks;
  }

  return {
    async forScope(scope, pin) {
      return chainedProviders(await links(pin), { db, log, scope, spans, calls, compute: config.compute });
    },
    async head(capability) {
      const first = (await links())[capability][0];
      const concurrency = first?.record.config.concurrency;
      return {
        provider: first?.record.id ?? "none",
        concurrency: typeof concurrency === "number" && concurrency > 0 ? concurrency : null,
      };
    },
  };
}
