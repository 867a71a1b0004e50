import { type AnyElysia, Elysia } from "elysia";
import { AppError } from "../core/errors.ts";
import type { Deps } from "../deps.ts";
import { UNMATCHED_ROUTE } from "../metrics/http-requests.ts";
import { bearerMatches } from "../metrics/token.ts";
import { requestInfoOf } from "./request-info.ts";

/** The status a client saw: a handler's own Response carries it, `set.status` has the rest. */
function statusOf(response: unknown, status: unknown): number {
  if (response instanceof Response) return response.status;
  return typeof status === "number" ? status : Number(status) || 200;
}

/**
 * Request metrics for every route (registered right after the HTTP plugin, whose request info
 * times them) and, when METRICS_TOKEN is set, `GET /metrics` behind that bearer token. Without
 * the token the route does not exist: it answers 404 like any unknown path. It is left out of
 * the OpenAPI document, which describes the public API.
 */
export function metricsPlugin(deps: Deps, routes: () => AnyElysia["routes"]) {
  const { metrics } = deps;
  const token = deps.config.metrics.token;
  // The route label is a template of this app's route table or "unmatched", whatever Elysia says:
  // the number of series stays bounded by the routes we wrote.
  let known = new Set<string>();
  let knownFrom: AnyElysia["routes"] | null = null;
  const template = (route: string | undefined) => {
    const table = routes();
    if (knownFrom !== table || known.size === 0) {
      known = new Set(table.map((r) => r.path));
      knownFrom = table;
    }
    return route && known.has(route) ? route : UNMATCHED_ROUTE;
  };
  const plugin = new Elysia({ name: "inkreel.metrics" }).onAfterResponse(
    { as: "global" },
    ({ request, route, set, response }) => {
      const info = requestInfoOf(request);
      metrics.http.observe({
        method: request.method,
        route: template(route),
        status: statusOf(response, set.status),
        seconds: info ? (performance.now() - info.start) / 1000 : 0,
      });
    },
  );
  if (!token) return plugin;
  return plugin.get(
    "/metrics",
    async ({ request }) => {
      if (!bearerMatches(request.headers.get("authorization"), token))
        throw new AppError("UNAUTHORIZED", "a valid metrics token is required", {}, { "www-authenticate": "Bearer" });
      return new Response(await metrics.render(), { headers: { "content-type": metrics.contentType } });
    },
    { detail: { hide: true } },
  );
}
