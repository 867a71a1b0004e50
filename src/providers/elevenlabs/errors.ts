import { ElevenLabsError, ElevenLabsTimeoutError } from "@elevenlabs/elevenlabs-js";

/**
 * A failed ElevenLabs call: which model, the HTTP status (null when no answer came: network
 * failure, timeout, unreadable audio), ElevenLabs' own code (`detail.status`, e.g.
 * "invalid_api_key", "quota_exceeded", "voice_not_found", "too_many_concurrent_requests") and
 * whether trying again later can help. The message is ElevenLabs' `detail.message` (or the
 * validation messages of a 422), never the API key.
 */
export class ElevenLabsProviderError extends Error {
  override name = "ElevenLabsProviderError";
  readonly provider = "elevenlabs";
  readonly model: string;
  readonly status: number | null;
  readonly code: string | null;
  readonly retryable: boolean;
  readonly requestId: string | null;

  constructor(
    message: string,
    options: {
      model: string;
      status?: number | null;
      code?: string | null;
      retryable: boolean;
      requestId?: string | null;
    },
  ) {
    super(message);
    this.model = options.model;
    this.status = options.status ?? null;
    this.code = options.code ?? null;
    this.retryable = options.retryable;
    this.requestId = options.requestId ?? null;
  }
}

/** 408, 409 (a conflicting request still running), 429 and 5xx are worth retrying; other 4xx are not. */
export const retryableStatus = (status: number) => status === 408 || status === 409 || status === 429 || status >= 500;

interface ValidationItem {
  loc?: unknown[];
  msg?: unknown;
}

/** ElevenLabs' error body: `{detail: {status, message}}`, FastAPI's `{detail: [{loc, msg, type}]}`, or text. */
export function errorDetail(body: unknown): { code: string | null; message: string | null } {
  if (typeof body === "string") {
    const text = body.trim();
    try {
      body = JSON.parse(text);
    } catch {
      return { code: null, message: text ? text.slice(0, 500) : null };
    }
  }
  const detail = body && typeof body === "object" && "detail" in body ? (body as { detail: unknown }).detail : body;
  if (typeof detail === "string") return { code: null, message: detail };
  if (Array.isArray(detail)) {
    const parts = (detail as ValidationItem[]).map((d) => {
      const where = (Array.isArray(d?.loc) ? d.loc : []).filter((x) => x !== "body").join(".");
      const msg = typeof d?.msg === "string" ? d.msg : JSON.stringify(d);
      return where ? `${where}: ${msg}` : msg;
    });
    return { code: "validation_error", message: parts.join("; ") || null };
  }
  if (detail && typeof detail === "object") {
    const d = detail as Record<string, unknown>;
    const code = typeof d.status === "string" ? d.status : typeof d.code === "string" ? d.code : null;
    const message = typeof d.message === "string" ? d.message : typeof d.msg === "string" ? d.msg : null;
    return { code, message };
  }
  return { code: null, message: null };
}

const scrub = (text: string, secret: string) => (secret.length >= 4 ? text.split(secret).join("[redacted]") : text);

/**
 * Any failure of an SDK call as an ElevenLabsProviderError. An abort is not an error of the
 * provider: the caller's abort reason is thrown instead (as the local providers do).
 */
export function toProviderError(
  error: unknown,
  context: { model: string; action: string; apiKey: string; signal?: AbortSignal },
): unknown {
  if (context.signal?.aborted) return context.signal.reason ?? new Error("aborted");
  if (error instanceof ElevenLabsProviderError) return error;
  const say = (text: string) => scrub(`ElevenLabs ${context.action} failed: ${text}`, context.apiKey);
  if (error instanceof ElevenLabsTimeoutError) {
    return new ElevenLabsProviderError(say("no answer before the timeout"), { model: context.model, retryable: true });
  }
  if (error instanceof ElevenLabsError) {
    const requestId = error.requestId ?? null;
    if (error.statusCode === undefined) {
      // No HTTP answer: a network failure (connection refused, reset, DNS).
      const why = error.message.split("\n")[0] || "no answer";
      return new ElevenLabsProviderError(say(why), { model: context.model, retryable: true, requestId });
    }
    const status = error.statusCode;
    const { code, message } = errorDetail(error.body);
    const text = `${message ?? "no details given"} (HTTP ${status}${code ? `, ${code}` : ""})`;
    return new ElevenLabsProviderError(say(text), {
      model: context.model,
      status,
      code,
      retryable: retryableStatus(status),
      requestId,
    });
  }
  const why = error instanceof Error ? error.message : String(error);
  return new ElevenLabsProviderError(say(why), { model: context.model, retryable: false });
}
