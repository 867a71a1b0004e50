/**
 * The one error the fal provider throws (aborts aside): which model, what HTTP status, whether
 * trying again may help, and fal's own explanation — the `detail` of a 422 flattened to
 * "field: message" — never the key or the request headers.
 */
export class FalProviderError extends Error {
  override name = "FalProviderError";
  readonly provider = "fal";
  readonly model: string;
  /** HTTP status of the failing call; undefined for transport failures and malformed answers. */
  readonly status: number | undefined;
  /** True when the same call may succeed later (rate limit, outage, transport). */
  readonly retryable: boolean;
  /** The fal request this concerns, when one was queued. */
  readonly requestId: string | undefined;
  /** The 422 field errors, as fal sent them. */
  readonly detail: FalFieldError[];
  /** Which step failed. */
  readonly phase: FalPhase | undefined;

  constructor(init: {
    model: string;
    message: string;
    status?: number;
    retryable: boolean;
    requestId?: string;
    detail?: FalFieldError[];
    phase?: FalPhase;
    cause?: unknown;
  }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.model = init.model;
    this.status = init.status;
    this.retryable = init.retryable;
    this.requestId = init.requestId;
    this.detail = init.detail ?? [];
    this.phase = init.phase;
  }
}

export type FalPhase = "upload" | "submit" | "status" | "result" | "download";

/** One entry of FastAPI/pydantic's `{detail: [{loc, msg, type}]}`. */
export interface FalFieldError {
  loc: Array<string | number>;
  msg: string;
  type: string;
}

/** Statuses worth trying again: rate limits and the gateway's transient failures. */
export const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** `detail` as fal sends it (a list of field errors, or one string) → field errors. */
export function fieldErrors(body: unknown): FalFieldError[] {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (typeof detail === "string") return [{ loc: ["body"], msg: detail, type: "value_error" }];
  if (!Array.isArray(detail)) return [];
  return detail
    .filter((d): d is Record<string, unknown> => typeof d === "object" && d !== null)
    .map((d) => ({
      loc: Array.isArray(d.loc) ? (d.loc as Array<string | number>) : [],
      msg: typeof d.msg === "string" ? d.msg : JSON.stringify(d.msg ?? d),
      type: typeof d.type === "string" ? d.type : "error",
    }));
}

/** "duration: Input should be '5' or '10'; image_url: …" — the `body.` prefix of loc dropped. */
export function describeDetail(errors: FalFieldError[]): string {
  return errors
    .map((e) => {
      const loc = e.loc.filter((p, i) => !(i === 0 && p === "body")).join(".");
      return loc ? `${loc}: ${e.msg}` : e.msg;
    })
    .join("; ");
}

/** The explanation in an error body: field errors, else `detail`/`message`/`error` text. */
export function bodyMessage(body: unknown): string {
  const errors = fieldErrors(body);
  if (errors.length) return describeDetail(errors);
  if (body && typeof body === "object") {
    for (const k of ["message", "error", "status"] as const) {
      const v = (body as Record<string, unknown>)[k];
      if (typeof v === "string" && v) return v;
    }
  }
  return typeof body === "string" ? body.slice(0, 300) : "";
}

/** An HTTP error answer → FalProviderError; `model` may be "" and filled in by `relabel`. */
export async function errorFromResponse(res: Response, what: string, model = ""): Promise<FalProviderError> {
  const text = await res.text().catch(() => "");
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  const explanation = bodyMessage(body) || res.statusText || "no explanation";
  return new FalProviderError({
    model,
    status: res.status,
    retryable: RETRYABLE_STATUS.has(res.status),
    requestId: res.headers.get("x-fal-request-id") ?? undefined,
    detail: fieldErrors(body),
    message: `${what} failed (HTTP ${res.status}): ${explanation}`,
  });
}

export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  return err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError");
}

/**
 * Whatever a fal call threw → a FalProviderError naming `model` and the failing `phase` (aborts
 * pass through unchanged). The fal client's own ApiError/ValidationError (status + body) are mapped too.
 */
export function relabel(err: unknown, model: string, phase: FalPhase, requestId?: string): unknown {
  if (isAbort(err)) return err;
  if (err instanceof FalProviderError) {
    return new FalProviderError({
      model,
      status: err.status,
      retryable: err.retryable,
      requestId: err.requestId ?? requestId,
      detail: err.detail,
      phase,
      message: `fal ${model}: ${err.message.replace(/^fal [^:]*: /, "")}`,
      cause: err.cause,
    });
  }
  const e = err as { status?: unknown; body?: unknown; message?: unknown };
  if (err instanceof Error && typeof e.status === "number") {
    const explanation = bodyMessage(e.body) || String(e.message);
    return new FalProviderError({
      model,
      status: e.status,
      retryable: RETRYABLE_STATUS.has(e.status),
      requestId,
      detail: fieldErrors(e.body),
      phase,
      message: `fal ${model}: ${phase} failed (HTTP ${e.status}): ${explanation}`,
      cause: err,
    });
  }
  // Transport failures arrive here already as FalProviderError (see http.ts): anything else is unexpected.
  return new FalProviderError({
    model,
    retryable: false,
    requestId,
    phase,
    message: `fal ${model}: ${phase} failed: ${err instanceof Error ? err.message : String(err)}`,
    cause: err,
  });
}
