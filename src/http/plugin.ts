import { Elysia } from "elysia";
import { AppError, ERROR_STATUS } from "../core/errors.ts";
import { UpstreamError } from "../core/upstream-error.ts";
import type { Deps } from "../deps.ts";
import { parseBody, tooLarge } from "./body.ts";
import { failure } from "./envelope.ts";
import { requestInfo, requestInfoOf } from "./request-info.ts";

const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

interface ValidationLike {
  type?: string;
  all?: Array<{ path?: string; message?: string; summary?: string }>;
}

function validationFields(error: ValidationLike) {
  const seen = new Set<string>();
  const fields: Array<{ path: string; message: string }> = [];
  for (const e of error.all ?? []) {
    const path = e.path || "/";
    if (seen.has(path)) continue;
    seen.add(path);
    fields.push({ path, message: e.summary ?? e.message ?? "is invalid" });
  }
  return fields;
}

/** The route whose body is streamed by its handler rather than parsed here. */
export const STREAMED_UPLOAD_PATH = "/api/v1/uploads";

/** Routes that may carry a picture in a multipart form, like the upload routes. */
const GENERATE_PATH = "/api/v1/generate/";

/** The most a streamed upload's request may carry: the file and its form's framing. */
export const streamedBodyLimit = (config: Deps["config"]) => config.uploads.maxBytes + 1024 * 1024;

/**
 * Cross-cutting HTTP behaviour, registered before every module: request ids, the body limit,
 * strict JSON parsing, the failure envelope for every error, and one structured access log line.
 */
export function httpPlugin(deps: Deps) {
  const jsonLimit = deps.config.limits.bodyBytes;
  // Upload routes take files up to 10 MB (their handlers check the file itself), plus the form's framing.
  const uploadLimit = Math.max(jsonLimit, 10 * 1024 * 1024 + 64 * 1024);
  // POST /uploads streams its file to disk as it arrives (http/multipart.ts), up to UPLOAD_MAX_BYTES.
  const streamedLimit = streamedBodyLimit(deps.config);
  const limitFor = (request: Request) => {
    const path = new URL(request.url).pathname;
    if (path === STREAMED_UPLOAD_PATH) return streamedLimit;
    // Direct generation takes its source picture in the form (POST /generate/image-to-image …).
    return path.endsWith("/upload") || path.startsWith(GENERATE_PATH) ? uploadLimit : jsonLimit;
  };
  const log = deps.log;
  // A write may have changed a user or a session: what this process remembers of them is dropped
  // before the answer goes out (other processes learn it from the database's notification).
  const afterWrite = (request: Request) => {
    if (!READ_METHODS.has(request.method)) deps.sessions.forgetAll();
  };
  return new Elysia({ name: "inkreel.http" })
    .onRequest(({ request, set }) => {
      const info = requestInfo(request);
      set.headers["x-request-id"] = info.id;
      const length = Number(request.headers.get("content-length") ?? 0);
      const limit = limitFor(request);
      if (length > limit) throw tooLarge(limit);
    })
    .onParse({ as: "global" }, ({ request, contentType }) =>
      // Left unread (null, not undefined, so no other parser reads it): its handler streams it.
      request.method === "POST" && new URL(request.url).pathname === STREAMED_UPLOAD_PATH
        ? null
        : parseBody(request, contentType, limitFor(request)),
    )
    .onAfterHandle({ as: "global" }, ({ request }) => afterWrite(request))
    .onError({ as: "global" }, ({ code, error: raised, request, set }) => {
      afterWrite(request);
      const info = requestInfoOf(request);
      // Elysia wraps what the parse hook throws in a ParseError; ours carry their own status.
      const error = code === "PARSE" && (raised as Error).cause instanceof AppError ? (raised as Error).cause : raised;
      set.headers["content-type"] = "application/json; charset=utf-8";
      if (info) set.headers["x-request-id"] = info.id;
      if (error instanceof AppError) {
        set.status = error.status;
        Object.assign(set.headers, error.headers);
        return failure(error.code, error.message, error.details);
      }
      if (error instanceof UpstreamError) {
        log.warn("provider failed", { request_id: info?.id, ...error.details(), error: error.message });
        set.status = ERROR_STATUS[error.code];
        return failure(error.code, error.message, error.details());
      }
      if (code === "VALIDATION" && (error as ValidationLike).type !== "response") {
        set.status = 400;
        return failure("VALIDATION_ERROR", "request validation failed", {
          fields: validationFields(error as ValidationLike),
        });
      }
      if (code === "PARSE") {
        set.status = 400;
        return failure("VALIDATION_ERROR", "request body could not be parsed", {
          fields: [{ path: "/", message: "malformed body" }],
        });
      }
      if (code === "NOT_FOUND") {
        set.status = 404;
        return failure("NOT_FOUND", "route not found");
      }
      // A full disk outside the storage driver (which says so itself) is still the storage's failure.
      if ((error as NodeJS.ErrnoException)?.code === "ENOSPC") {
        set.status = ERROR_STATUS.STORAGE_ERROR;
        return failure("STORAGE_ERROR", "the file storage is full");
      }
      // Text PostgreSQL cannot store (a NUL in a query string, say) is the client's input, not our fault.
      const sqlState = (error as { code?: unknown })?.code;
      if (sqlState === "22021" || sqlState === "22P05") {
        set.status = 400;
        return failure("VALIDATION_ERROR", "text may not contain NUL characters or invalid byte sequences", {
          fields: [{ path: "/", message: "contains a character PostgreSQL cannot store" }],
        });
      }
      const requestId = info?.id ?? "unknown";
      log.error("unhandled error", {
        request_id: requestId,
        code: String(code),
        error: error as Error,
        stack: (error as Error)?.stack,
      });
      set.status = 500;
      return failure("INTERNAL_ERROR", "internal error", { request_id: requestId });
    })
    .onAfterResponse({ as: "global" }, ({ request, set }) => {
      const info = requestInfoOf(request);
      const url = new URL(request.url);
      // The path only: query strings may carry tokens (?token= on SSE and WebSocket).
      log.info("request", {
        request_id: info?.id,
        method: request.method,
        path: url.pathname,
        status: typeof set.status === "number" ? set.status : Number(set.status) || 200,
        duration_ms: info ? Math.round((performance.now() - info.start) * 10) / 10 : undefined,
        user_id: info?.userId,
      });
    });
}
