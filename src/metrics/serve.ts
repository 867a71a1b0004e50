import { AppError, notFound } from "../core/errors.ts";
import type { Metrics } from "./registry.ts";
import { bearerMatches } from "./token.ts";

export interface MetricsServer {
  readonly port: number;
  stop(): Promise<void>;
}

/** The API's failure envelope (the HTTP layer's, which this layer may not import). */
function refuse(error: AppError, headers: Record<string, string> = {}): Response {
  const body = { success: false, data: null, message: error.message, error: { code: error.code, details: {} } };
  return Response.json(body, { status: error.status, headers });
}

/**
 * `GET /metrics` of a process that has no HTTP API (a worker), on its own port and behind the
 * same bearer token as the API's. Port 0 picks a free one (see `port`).
 */
export function serveMetrics(o: { metrics: Metrics; token: string; hostname: string; port: number }): MetricsServer {
  const server = Bun.serve({
    hostname: o.hostname,
    port: o.port,
    async fetch(request) {
      const { pathname } = new URL(request.url);
      if (pathname !== "/metrics" || (request.method !== "GET" && request.method !== "HEAD"))
        return refuse(notFound("route"));
      if (!bearerMatches(request.headers.get("authorization"), o.token))
        return refuse(new AppError("UNAUTHORIZED", "a valid metrics token is required"), {
          "www-authenticate": "Bearer",
        });
      return new Response(await o.metrics.render(), { headers: { "content-type": o.metrics.contentType } });
    },
  });
  return {
    port: server.port ?? o.port,
    async stop() {
      await server.stop(true);
    },
  };
}
