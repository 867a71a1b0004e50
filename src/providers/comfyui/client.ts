import type { ComfyGraph } from "../../core/comfy-workflow.ts";
import {
  abortReason,
  type ComfyPhase,
  ComfyUIProviderError,
  isAbort,
  promptRefusal,
  RETRYABLE_STATUS,
} from "./errors.ts";

/**
 * ComfyUI's HTTP and WebSocket routes (server.py), one small function each: POST /upload/image,
 * POST /prompt, GET /history/{prompt_id}, GET /queue, GET /view, POST /queue {delete},
 * POST /interrupt, and /ws?clientId= for progress. Idempotent calls are retried on 5xx and
 * transport failures; POST /prompt is not (the caller checks /queue and /history instead).
 */
export interface ComfyConnection {
  /** The server's base URL (no trailing slash), e.g. http://127.0.0.1:8188. */
  url: string;
  /** Sent as a bearer token (a ComfyUI behind an authenticating proxy); never logged. */
  apiKey: string | null;
  /** The fetch of every HTTP call (the SSRF-guarded one for an ADMIN's URL). */
  fetch: typeof fetch;
  /** Checks a URL before it is opened outside `fetch` (the WebSocket); throws to refuse it. */
  checkUrl: (url: string) => Promise<void>;
  /** How long one HTTP call may take. */
  requestTimeoutMs: number;
  /** Further attempts of an idempotent call after a 5xx or a transport failure. */
  retries: number;
  retryDelayMs: number;
  /** Names the model in errors. */
  model: string;
}

/** An output file as /history lists it (`images`, `gifs`, `videos` of a node's outputs). */
export interface ComfyFile {
  filename: string;
  subfolder: string;
  type: string;
  format?: string;
}

/** One prompt's entry of GET /history/{prompt_id}. */
export interface ComfyHistoryEntry {
  outputs: Record<string, Record<string, unknown>>;
  status?: { status_str?: string; completed?: boolean; messages?: Array<[string, Record<string, unknown>]> } | null;
}

/** A queue item of GET /queue: `[number, prompt_id, prompt, extra_data, outputs_to_execute, …]`. */
type QueueItem = [number, string, ...unknown[]];

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const timer = setTimeout(resolve, ms);
    const aborted = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    signal?.addEventListener("abort", aborted, { once: true });
  });

function fail(c: ComfyConnection, phase: ComfyPhase, message: string, extra: Partial<ComfyUIProviderError> = {}) {
  return new ComfyUIProviderError({
    model: c.model,
    phase,
    retryable: extra.retryable ?? false,
    status: extra.status,
    promptId: extra.requestId,
    message: `comfyui ${c.model}: ${message}`,
  });
}

/** One HTTP call with a timeout; idempotent ones retried. Non-2xx answers become errors (except what `accept` takes). */
async function call(
  c: ComfyConnection,
  phase: ComfyPhase,
  path: string,
  init: RequestInit & { idempotent: boolean; signal?: AbortSignal; promptId?: string },
  accept: (status: number) => boolean = () => false,
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (c.apiKey) headers.set("authorization", `Bearer ${c.apiKey}`);
  for (let attempt = 0; ; attempt++) {
    const signal = AbortSignal.any([AbortSignal.timeout(c.requestTimeoutMs), ...(init.signal ? [init.signal] : [])]);
    let res: Response;
    try {
      res = await c.fetch(`${c.url}${path}`, { ...init, headers, signal });
    } catch (err) {
      if (init.signal?.aborted) throw abortReason(init.signal);
      const why = isAbort(err) ? `no answer within ${c.requestTimeoutMs} ms` : (err as Error).message;
      if (init.idempotent && attempt < c.retries) {
        await sleep(c.retryDelayMs * 2 ** attempt, init.signal);
        continue;
      }
      throw fail(c, phase, `${phase} failed: ${why}`, { retryable: true, requestId: init.promptId });
    }
    if (res.ok || accept(res.status)) return res;
    if (init.idempotent && RETRYABLE_STATUS.has(res.status) && attempt < c.retries) {
      await res.body?.cancel().catch(() => {});
      await sleep(c.retryDelayMs * 2 ** attempt, init.signal);
      continue;
    }
    const text = (await res.text().catch(() => "")).slice(0, 300);
    throw fail(c, phase, `${phase} failed (HTTP ${res.status})${text ? `: ${text}` : ""}`, {
      status: res.status,
      retryable: RETRYABLE_STATUS.has(res.status),
      requestId: init.promptId,
    });
  }
}

async function json<T>(c: ComfyConnection, phase: ComfyPhase, res: Response, promptId?: string): Promise<T> {
  try {
    return (await res.json()) as T;
  } catch {
    throw fail(c, phase, `${phase}: the answer is not JSON`, { retryable: true, requestId: promptId });
  }
}

/** POST /upload/image (multipart `image`, `overwrite`): the file's name for a LoadImage node. */
export async function uploadImage(
  c: ComfyConnection,
  file: { bytes: Uint8Array; mimeType: string; name: string },
  signal?: AbortSignal,
): Promise<string> {
  const form = new FormData();
  form.append("image", new File([file.bytes as Uint8Array<ArrayBuffer>], file.name, { type: file.mimeType }));
  form.append("overwrite", "true");
  form.append("type", "input");
  const res = await call(c, "upload", "/upload/image", { method: "POST", body: form, idempotent: true, signal });
  const out = await json<{ name?: unknown; subfolder?: unknown }>(c, "upload", res);
  if (typeof out.name !== "string") throw fail(c, "upload", "upload: the answer has no name");
  return typeof out.subfolder === "string" && out.subfolder ? `${out.subfolder}/${out.name}` : out.name;
}

/**
 * POST /prompt with our own prompt id (ComfyUI takes `prompt_id` from the body; an older server
 * answers its own, which is returned). A refused prompt (400: `error`, `node_errors`) throws, naming the nodes.
 */
export async function queuePrompt(
  c: ComfyConnection,
  o: { graph: ComfyGraph; promptId: string; clientId: string; signal?: AbortSignal },
): Promise<string> {
  const res = await call(
    c,
    "submit",
    "/prompt",
    {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: o.graph, prompt_id: o.promptId, client_id: o.clientId }),
      idempotent: false,
      signal: o.signal,
      promptId: o.promptId,
    },
    (s) => s === 400,
  );
  const body = await json<{ prompt_id?: unknown }>(c, "submit", res, o.promptId);
  if (res.status === 400) {
    const { message, nodeErrors } = promptRefusal(body);
    throw new ComfyUIProviderError({
      model: c.model,
      status: 400,
      retryable: false,
      phase: "submit",
      nodeErrors,
      message: `comfyui ${c.model}: the server refused the prompt: ${message}`,
    });
  }
  return typeof body.prompt_id === "string" && body.prompt_id ? body.prompt_id : o.promptId;
}

/** GET /history/{prompt_id}: the prompt's entry once it has run, else null. */
export async function historyOf(c: ComfyConnection, promptId: string, signal?: AbortSignal) {
  const res = await call(c, "status", `/history/${encodeURIComponent(promptId)}`, {
    idempotent: true,
    signal,
    promptId,
  });
  const all = await json<Record<string, ComfyHistoryEntry>>(c, "status", res, promptId);
  return all?.[promptId] ?? null;
}

/** Where the prompt is in GET /queue: running, waiting with `ahead` prompts before it, or not there. */
export async function placeInQueue(
  c: ComfyConnection,
  promptId: string,
  signal?: AbortSignal,
): Promise<{ state: "running" } | { state: "pending"; ahead: number } | null> {
  const res = await call(c, "status", "/queue", { idempotent: true, signal, promptId });
  const q = await json<{ queue_running?: QueueItem[]; queue_pending?: QueueItem[] }>(c, "status", res, promptId);
  const running = q.queue_running ?? [];
  const pending = q.queue_pending ?? [];
  if (running.some((i) => i[1] === promptId)) return { state: "running" };
  const mine = pending.find((i) => i[1] === promptId);
  if (!mine) return null;
  // The pending list is a heap, not in order: what runs first has the lower number.
  return { state: "pending", ahead: running.length + pending.filter((i) => i[0] < mine[0]).length };
}

/** GET /view?filename=&subfolder=&type=: an output file's bytes. */
export async function viewFile(c: ComfyConnection, f: ComfyFile, signal?: AbortSignal): Promise<Uint8Array> {
  const q = new URLSearchParams({ filename: f.filename, subfolder: f.subfolder ?? "", type: f.type || "output" });
  const res = await call(c, "download", `/view?${q}`, { idempotent: true, signal });
  return new Uint8Array(await res.arrayBuffer());
}

/** Drops a prompt: deleted from the queue, and interrupted if it is the one running. Best effort. */
export async function dropPrompt(c: ComfyConnection, promptId: string): Promise<void> {
  const signal = AbortSignal.timeout(15_000);
  const post = (path: string, body: unknown) =>
    call(c, "status", path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      idempotent: true,
      signal,
    });
  try {
    await post("/queue", { delete: [promptId] });
    if ((await placeInQueue(c, promptId, signal))?.state === "running")
      await post("/interrupt", { prompt_id: promptId });
  } catch {
    // The prompt may run to its end; nothing waits for it.
  }
}

/** Bun's WebSocket, which takes headers (the DOM typing knows only protocols). */
const BunWebSocket = WebSocket as unknown as new (
  url: string,
  options: { headers: Record<string, string> },
) => WebSocket;

/** A message of /ws: `{type, data}` (binary preview frames are ignored). */
export interface ComfyMessage {
  type: string;
  data: Record<string, unknown>;
}

/**
 * Listens on /ws?clientId=: every JSON message goes to `onMessage`. Resolves once the server has
 * greeted the socket (its first `status` message: the client is registered, so the prompt's
 * messages will reach it), or failed, or after `requestTimeoutMs`. Best effort — the caller polls
 * /history anyway, so a server without a socket (or a proxy that drops it) only loses live progress.
 */
export async function openSocket(
  c: ComfyConnection,
  clientId: string,
  onMessage: (m: ComfyMessage) => void,
): Promise<{ close(): void }> {
  const http = `${c.url}/ws?clientId=${encodeURIComponent(clientId)}`;
  try {
    await c.checkUrl(http);
  } catch {
    return { close() {} };
  }
  const ws = new BunWebSocket(http.replace(/^http/, "ws"), {
    headers: c.apiKey ? { authorization: `Bearer ${c.apiKey}` } : {},
  });
  const close = () => {
    try {
      ws.close();
    } catch {
      // already closed
    }
  };
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, Math.min(c.requestTimeoutMs, 10_000));
    function done() {
      clearTimeout(timer);
      resolve();
    }
    ws.onerror = done;
    ws.onclose = done;
    ws.onmessage = (e) => {
      done();
      if (typeof e.data !== "string") return;
      try {
        const m = JSON.parse(e.data) as ComfyMessage;
        if (m && typeof m.type === "string" && m.data && typeof m.data === "object") onMessage(m);
      } catch {
        // not ComfyUI's JSON: ignored
      }
    };
  });
  return { close };
}
