import { Counter, Gauge, type Registry } from "prom-client";

/**
 * The few process figures Bun reports faithfully. prom-client's default collectors are not used:
 * under Bun several of them (event-loop lag, V8 heap spaces) print zeros or NaN.
 */
export function processGauges(registry: Registry, labels: { process: string; version: string }) {
  new Gauge({
    name: "inkreel_info",
    help: "Always 1: which Inkreel process and version this is",
    labelNames: ["process", "version"] as const,
    registers: [registry],
  }).set(labels, 1);
  new Gauge({
    name: "process_start_time_seconds",
    help: "Start time of the process since the Unix epoch in seconds",
    registers: [registry],
  }).set(Math.round(Date.now() / 1000 - process.uptime()));
  new Gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes",
    registers: [registry],
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Counter({
    name: "process_cpu_seconds_total",
    help: "Total user and system CPU time spent in seconds",
    registers: [registry],
    collect() {
      const { user, system } = process.cpuUsage();
      this.reset();
      this.inc((user + system) / 1e6);
    },
  });
}
