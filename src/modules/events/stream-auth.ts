import type { Deps } from "../../deps.ts";
import { authenticate, bearerToken, type Caller } from "../../http/auth-guard.ts";
import { requestInfo } from "../../http/request-info.ts";

/**
 * The caller of a streaming request: like `auth: true`, but the token may also come as
 * `?token=`, since EventSource and browser WebSockets cannot send an Authorization header.
 * The header wins when both are present. The access log records the path only, never the query.
 */
export async function streamCaller(deps: Deps, request: Request): Promise<Caller> {
  const fromQuery = new URL(request.url).searchParams.get("token");
  const caller = await authenticate(deps, bearerToken(request.headers.get("authorization")) ?? (fromQuery || null));
  requestInfo(request).userId = caller.user.id;
  await deps.rateLimiter.hit(`user:${caller.user.id}`, deps.config.limits.userPerMinute);
  return caller;
}
