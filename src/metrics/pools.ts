import { Gauge, type Registry } from "prom-client";
import type { PoolCounts } from "../db/client.ts";

/** Connection-pool gauges; `watch(name)` is the `onPool` hook of createDb for one named pool. */
export function poolGauges(registry: Registry) {
  const pools: Array<{ name: string; pool: PoolCounts }> = [];
  const gauge = (name: string, help: string, read: (p: PoolCounts) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["pool"] as const,
      registers: [registry],
      collect() {
        this.reset();
        const sums = new Map<string, number>();
        for (const { name: pool, pool: p } of pools) sums.set(pool, (sums.get(pool) ?? 0) + read(p));
        for (const [pool, value] of sums) this.set({ pool }, value);
      },
    });
  gauge("inkreel_db_pool_connections", "Open connections of this process's database pools", (p) => p.totalCount);
  gauge("inkreel_db_pool_idle_connections", "Idle connections of this process's database pools", (p) => p.idleCount);
  gauge(
    "inkreel_db_pool_waiting_clients",
    "Queries waiting for a free connection in this process's database pools",
    (p) => p.waitingCount,
  );
  gauge("inkreel_db_pool_max_connections", "Size limit of this process's database pools", (p) => p.options.max ?? 10);
  return {
    watch(name: string): (pool: PoolCounts) => void {
      return (pool) => void pools.push({ name, pool });
    },
  };
}
