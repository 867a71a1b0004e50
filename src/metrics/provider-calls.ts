import { Counter, Histogram, type Registry } from "prom-client";
import type { ProviderCallObserver } from "./observers.ts";

/** The provider chain's observer, feeding this process's provider metrics. */
export function providerCallMetrics(registry: Registry): ProviderCallObserver {
  const labelNames = ["capability", "provider", "model"] as const;
  const calls = new Counter({
    name: "inkreel_provider_calls_total",
    help: "Provider calls, by capability, provider, model and outcome (ok, failed)",
    labelNames: [...labelNames, "outcome"] as const,
    registers: [registry],
  });
  const failovers = new Counter({
    name: "inkreel_provider_failovers_total",
    help: "Failed provider calls after which the chain moved on to its next link, by the link that failed",
    labelNames,
    registers: [registry],
  });
  const cost = new Counter({
    name: "inkreel_provider_cost_usd_total",
    help: "Estimated cost of provider calls in US dollars (the ledger's prices), by capability, provider and model",
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "inkreel_provider_call_duration_seconds",
    help: "Duration of provider calls, by capability, provider, model and outcome",
    labelNames: [...labelNames, "outcome"] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    registers: [registry],
  });
  return {
    called({ capability, provider, model, outcome, failedOver, costUsd, seconds }) {
      const link = { capability, provider, model };
      calls.inc({ ...link, outcome });
      duration.observe({ ...link, outcome }, seconds);
      if (failedOver) failovers.inc(link);
      if (costUsd > 0) cost.inc(link, costUsd);
    },
  };
}
