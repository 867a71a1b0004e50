import { Counter, Histogram, type Registry } from "prom-client";

/** The route label of requests that matched no route: one series, whatever path was asked. */
export const UNMATCHED_ROUTE = "unmatched";

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

export interface HttpRequest {
  method: string;
  /** The matched route's template (`/api/v1/projects/:id`), or UNMATCHED_ROUTE. */
  route: string;
  status: number;
  seconds: number;
}

export interface HttpRequestMetrics {
  observe(request: HttpRequest): void;
}

export function httpRequestMetrics(registry: Registry): HttpRequestMetrics {
  const requests = new Counter({
    name: "inkreel_http_requests_total",
    help: "HTTP requests answered, by method, route template and status",
    labelNames: ["method", "route", "status"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "inkreel_http_request_duration_seconds",
    help: "Time from receiving a request to the end of its response (of the whole stream for SSE), by method and route template",
    labelNames: ["method", "route"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  return {
    observe({ method, route, status, seconds }) {
      // Clients choose methods and statuses are ours: both are bounded once odd methods collapse.
      const m = METHODS.has(method) ? method : "OTHER";
      const s = Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : "0";
      requests.inc({ method: m, route, status: s });
      duration.observe({ method: m, route }, seconds);
    },
  };
}
