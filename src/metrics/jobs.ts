import { Counter, Histogram, type Registry } from "prom-client";
import type { JobObserver } from "./observers.ts";

/** The worker's observer, feeding this process's job metrics. */
export function jobMetrics(registry: Registry): JobObserver {
  const duration = new Histogram({
    name: "inkreel_job_duration_seconds",
    help: "Handler time of job attempts run by this worker, by queue, kind and outcome",
    labelNames: ["queue", "kind", "outcome"] as const,
    buckets: [0.005, 0.025, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600],
    registers: [registry],
  });
  const failures = new Counter({
    name: "inkreel_job_failures_total",
    help: "Failed job attempts in this worker, by queue, kind and reason (error, timeout, permanent)",
    labelNames: ["queue", "kind", "reason"] as const,
    registers: [registry],
  });
  const rescues = new Counter({
    name: "inkreel_job_rescues_total",
    help: "Jobs with an expired lease (a dead or stuck worker) that this worker's sweep rescued",
    registers: [registry],
  });
  return {
    attempted({ queue, kind, outcome, reason, seconds }) {
      duration.observe({ queue, kind, outcome }, seconds);
      if (outcome === "failed") failures.inc({ queue, kind, reason: reason ?? "error" });
    },
    rescued(count) {
      if (count > 0) rescues.inc(count);
    },
  };
}
