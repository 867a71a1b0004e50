import type { ComputeConfig } from "../config.ts";
import type { Capability } from "../core/capabilities.ts";
import type { Db } from "../db/client.ts";
import type { Logger } from "../log.ts";
import type { ProviderCallObserver } from "../metrics/observers.ts";
import type { SpanRecorder } from "../metrics/spans.ts";
import { AiServiceError, type CallScope, isProviderFailure, refusedCredentials, warrantsFailover } from "./ai-error.ts";
import { type LedgerContext, recordUsage } from "./ledger.ts";
import { costOf, type Price, priceOf } from "./pricing.ts";
import { takeRateSlot } from "./rate-limit.ts";
import type { ProviderRecord } from "./settings.ts";
import type { GenerateResult, Providers, TextModel, TextStream, Usage } from "./types.ts";

/** A usable step of a chain: the provider's row, the model, and the model built for it. */
export interface Link<M> {
  record: ProviderRecord;
  model: string;
  instance: M;
}

interface ChainContext {
  db: Db;
  log: Logger;
  scope: CallScope;
  /** Times every provider call (the pipeline benchmark's recorder, else one that records nothing). */
  spans: SpanRecorder;
  /** Told of every call the ledger records (the process's metrics). */
  calls: ProviderCallObserver;
  /** How calls are billed in compute power (none: the cost ledger only). */
  compute?: ComputeConfig;
}

const priceFor = (link: Link<unknown>): Price => priceOf(link.record.id, link.model, link.record.config.prices);

/** A ledger row must not cost the result it describes: a failed insert is logged, not thrown. */
async function record(ctx: ChainContext, entry: Parameters<typeof recordUsage>[1]) {
  ctx.calls.called({
    capability: entry.capability,
    provider: entry.provider,
    model: entry.model,
    outcome: entry.outcome,
    failedOver: entry.failedOver ?? false,
    costUsd: costOf(entry.price, entry.usage ?? {}),
    seconds: entry.durationMs / 1000,
  });
  try {
    await recordUsage(ctx.db, entry);
  } catch (e) {
    ctx.log.error("could not record provider usage", {
      provider: entry.provider,
      model: entry.model,
      error: e instanceof Error ? e.message : String(e),
    });
  }
}

/**
 * Calls the chain's links in order until one answers. A link's SDK has already retried (with
 * backoff, honouring Retry-After); a failure that warrants failover (5xx, timeout, 429; refused
 * credentials when the next link is another provider) moves on to the next link, and is recorded
 * in the ledger as `failed_over`. A paid request still in flight is not abandoned: the error goes
 * to the job, whose next attempt resumes it. The last failure becomes an
 * AiServiceError naming provider, model, stage and shot. Every call, good or bad, is in the ledger.
 */
export async function runChain<M, T>(
  capability: Capability,
  links: Link<M>[],
  ctx: ChainContext,
  /** `ledger`: the link's ledger context, for a provider that records a charge of its own (fal/queue.ts). */
  invoke: (model: M, ledger: LedgerContext) => Promise<GenerateResult<T>>,
  signal?: AbortSignal,
): Promise<GenerateResult<T>> {
  if (links.length === 0)
    throw new AiServiceError(
      capability,
      "none",
      "none",
      ctx.scope,
      new Error(`no enabled provider with an API key serves ${capability}`),
    );
  const failures: string[] = [];
  for (const [i, link] of links.entries()) {
    const base: LedgerContext = {
      scope: ctx.scope,
      capability,
      provider: link.record.id,
      model: link.model,
      price: priceFor(link),
      local: link.record.kind === "local",
      compute: ctx.compute,
    };
    const rate = link.record.config.rate_per_minute;
    if (typeof rate === "number" && rate > 0) await takeRateSlot(ctx.db, link.record.id, rate, signal);
    const started = performance.now();
    try {
      const result = await ctx.spans.span("provider", () => invoke(link.instance, base), capability);
      await record(ctx, {
        ...base,
        outcome: "ok",
        usage: result.usage,
        requestId: result.response.id,
        durationMs: performance.now() - started,
      });
      return failures.length ? { ...result, warnings: [...result.warnings, ...failures] } : result;
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const following = links[i + 1];
      // Bad credentials are worth another provider (its own key), not another model of the same one.
      const next =
        !signal?.aborted &&
        !!following &&
        (warrantsFailover(e) || (refusedCredentials(e) && following.record.id !== link.record.id));
      // What a failed call had already used (tokens of a text answer that never fit) is billed too.
      const used = (e as { usage?: Usage }).usage;
      await record(ctx, {
        ...base,
        outcome: "failed",
        failedOver: next,
        error: message,
        usage: used,
        durationMs: performance.now() - started,
      });
      if (signal?.aborted) throw e;
      if (next) {
        const to = links[i + 1]!;
        ctx.log.warn("provider failover", {
          capability,
          from: `${link.record.id}/${link.model}`,
          to: `${to.record.id}/${to.model}`,
          stage: ctx.scope.stage,
          shot_id: ctx.scope.shotId,
          error: message,
        });
        failures.push(
          `${capability}: ${link.record.id}/${link.model} failed (${message}); ${to.record.id}/${to.model} was used instead`,
        );
        continue;
      }
      throw isProviderFailure(e) ? new AiServiceError(capability, link.record.id, link.model, ctx.scope, e) : e;
    }
  }
  throw new Error("unreachable");
}

/** Streamed text comes from the chain's first link; its usage reaches the ledger once the stream ends. */
function streamFromHead(links: Link<TextModel>[], ctx: ChainContext): TextModel["streamText"] {
  return (request) => {
    const head = links[0];
    if (!head)
      throw new AiServiceError(
        "text",
        "none",
        "none",
        ctx.scope,
        new Error("no enabled provider with an API key serves text"),
      );
    const started = performance.now();
    const stream: TextStream = head.instance.streamText(request);
    const base = {
      scope: ctx.scope,
      capability: "text" as const,
      provider: head.record.id,
      model: head.model,
      price: priceFor(head),
      local: head.record.kind === "local",
      compute: ctx.compute,
    };
    stream.usage.then(
      (usage: Usage) => record(ctx, { ...base, outcome: "ok", usage, durationMs: performance.now() - started }),
      (e: unknown) =>
        record(ctx, {
          ...base,
          outcome: "failed",
          error: e instanceof Error ? e.message : String(e),
          durationMs: performance.now() - started,
        }),
    );
    return stream;
  };
}

/**
 * The models a step calls: per capability, an object that behaves like the chain's first model
 * (its other methods, e.g. a speech model's voice list, are the first link's) but whose
 * generate runs the whole chain. `provider` and `modelId` name the first link, so input digests
 * stay stable whichever link answered.
 */
export function chainedProviders(chains: ProviderLinks, ctx: ChainContext): Providers {
  return {
    text: Object.assign(base(chains.text), {
      generateObject: (r: Parameters<TextModel["generateObject"]>[0]) =>
        runChain("text", chains.text, ctx, (m) => m.generateObject(r), r.signal),
      streamText: streamFromHead(chains.text, ctx),
    }),
    image: chained("image", chains.image, ctx),
    video: chained("video", chains.video, ctx),
    speech: chained("speech", chains.speech, ctx),
    music: chained("music", chains.music, ctx),
  };
}

/** Each capability's usable links, in chain order. */
export type ProviderLinks = { [C in Capability]: Link<Providers[C]>[] };

interface Generating {
  generate(options: { signal?: AbortSignal; ledger?: LedgerContext }): Promise<GenerateResult<unknown>>;
}

/** An object inheriting the head link's model (or nothing), named after it. */
function base<M>(links: Link<M>[]): M {
  const head = links[0];
  const inherited: object = head ? Object.create(head.instance as object) : {};
  return Object.assign(inherited, {
    provider: head?.record.id ?? "none",
    modelId: head?.model ?? "none",
    billing: { price: head ? priceFor(head) : {}, local: head?.record.kind === "local" },
  }) as M;
}

function chained<M extends Generating>(capability: Capability, links: Link<M>[], ctx: ChainContext): M {
  const generate: Generating["generate"] = (o) =>
    runChain(capability, links, ctx, (m, ledger) => m.generate({ ...o, ledger }), o.signal);
  return Object.assign(base(links), { generate });
}
