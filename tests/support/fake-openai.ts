// A small local stand-in for the OpenAI API, speaking its wire format at the paths the `openai`
// SDK calls (baseURL `${url}`, which ends in /v1):
//   POST /v1/chat/completions   plain, structured (response_format json_schema strict / json_object)
//                               and streamed (SSE `data: {chunk}` events, a usage chunk when
//                               stream_options.include_usage, then `data: [DONE]`)
//   POST /v1/responses          the Responses API: plain, structured (text.format json_schema
//                               strict / json_object) and streamed (SSE `event: <type>` +
//                               `data: {type, sequence_number, …}`, from response.created through
//                               response.output_text.delta to response.completed; no [DONE])
//   POST /v1/images/generations JSON in, `data[0].b64_json` out
//   POST /v1/images/edits       multipart in (`image[]` parts), `data[0].b64_json` out
//   POST /v1/videos             Sora: multipart in (prompt, model, seconds, size, an optional
//                               `input_reference` file, which must be an image of exactly `size`),
//                               a queued Video object out
//   GET  /v1/videos/:id         the Video, advanced one step per poll: queued → in_progress (for
//                               `polls` polls, default 1) → completed, or failed when scripted
//   GET  /v1/videos/:id/content the MP4 of a completed video (real H.264 of its size and seconds)
// Errors have OpenAI's body `{error: {message, type, param, code}}` and status. It checks the
// bearer key (401 invalid_api_key) and rejects what OpenAI rejects (missing model/messages,
// stream_options without stream, non-strict json_schema, json_object without "json" in the
// messages, Chat Completions parameters sent to /v1/responses, sizes the image model does not
// draw, response_format for GPT image models, a video without a prompt, lengths other than 4, 8 or
// 12 s, sizes the Sora model does not render, a reference image of another size; unknown video
// ids answer 404).
// Tests script the answers: a queue of canned replies (or handler functions) consumed one per
// accepted request, then a fallback handler; every request is recorded. The same replies serve
// both text APIs: on /v1/responses a ChatReply becomes a response (finishReason "length" an
// incomplete one, reason max_output_tokens; "content_filter" likewise; a refusal a refusal
// part), a StreamReply a stream of Responses events. The video endpoints answer by themselves
// (a queued canned reply, e.g. an error, still goes first); `scriptVideos` sets how the next
// created videos behave, and `videos` holds every video by id (delete one to make it expire).

import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { runFfmpeg, withTempDir } from "../../src/media/ffmpeg.ts";
import { sniffImage } from "../../src/media/sniff.ts";
import { TEST_H264 } from "./media.ts";

export interface RecordedFile {
  field: string;
  filename: string;
  type: string;
  bytes: Uint8Array;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  /** The parsed JSON body (JSON requests) or the multipart text fields (one value, or a list when repeated). */
  body: any;
  /** The multipart file parts, in order. */
  files: RecordedFile[];
}

export interface ChatReply {
  kind: "chat";
  content: string | null;
  finishReason?: "stop" | "length" | "content_filter" | "tool_calls";
  refusal?: string;
  usage?: { prompt_tokens: number; completion_tokens: number };
}

export interface StreamReply {
  kind: "stream";
  deltas: string[];
  finishReason?: "stop" | "length";
  usage?: { prompt_tokens: number; completion_tokens: number };
  /** Pause before each delta. */
  delayMs?: number;
  /** After the deltas, keep the connection open (no finish, no [DONE]) until the client goes away. */
  holdOpen?: boolean;
  /** After the deltas, send an error event instead of finishing. */
  errorEvent?: { message: string; type: string; code: string | null };
  /** On /v1/responses, how errorEvent is sent: an `error` event (default) or a `response.failed` one. */
  errorAs?: "error" | "response.failed";
}

export interface ErrorReply {
  kind: "error";
  status: number;
  message: string;
  type: string;
  code: string | null;
  param?: string | null;
  headers?: Record<string, string>;
}

export interface ImageReply {
  kind: "image";
  /** The image; default a PNG of the requested size. */
  bytes?: Uint8Array;
}

export interface RawReply {
  kind: "raw";
  response: Response;
}

export type Reply = ChatReply | StreamReply | ErrorReply | ImageReply | RawReply;

export type Handler = (req: RecordedRequest) => Reply | Promise<Reply>;

/** How a created video behaves. */
export interface VideoScript {
  /** Polls answered in_progress before the video is done (default 1; 0: the first poll finds it done). */
  polls?: number;
  /** The render ends "failed" with this error instead of "completed". */
  fail?: { code: string; message: string };
  /** The content bytes instead of a real MP4 of the video's size and length. */
  content?: Uint8Array;
  /** Called on every status poll, after the video advanced (a test aborts its call here). */
  onPoll?: (video: FakeVideo) => void;
}

/** A video the fake holds, as its status polls see it. */
export interface FakeVideo {
  id: string;
  model: string;
  prompt: string;
  seconds: string;
  size: string;
  status: "queued" | "in_progress" | "completed" | "failed";
  progress: number;
  createdAt: number;
  completedAt: number | null;
  error: { code: string; message: string } | null;
  /** Status polls answered so far. */
  polls: number;
  /** Content downloads answered so far. */
  downloads: number;
  /** The `input_reference` file of an image-to-video request. */
  reference: RecordedFile | null;
  script: VideoScript;
}

/** Builders of canned replies. */
export const reply = {
  chat: (content: string | null, o: Omit<ChatReply, "kind" | "content"> = {}): ChatReply => ({
    kind: "chat",
    content,
    ...o,
  }),
  json: (value: unknown, o: Omit<ChatReply, "kind" | "content"> = {}): ChatReply => ({
    kind: "chat",
    content: JSON.stringify(value),
    ...o,
  }),
  stream: (deltas: string[], o: Omit<StreamReply, "kind" | "deltas"> = {}): StreamReply => ({
    kind: "stream",
    deltas,
    ...o,
  }),
  error: (
    status: number,
    message: string,
    o: Partial<Omit<ErrorReply, "kind" | "status" | "message">> = {},
  ): ErrorReply => ({
    kind: "error",
    status,
    message,
    type: o.type ?? ERROR_TYPES[status] ?? "server_error",
    code: o.code === undefined ? null : o.code,
    param: o.param ?? null,
    headers: o.headers,
  }),
  image: (bytes?: Uint8Array): ImageReply => ({ kind: "image", bytes }),
  raw: (response: Response): RawReply => ({ kind: "raw", response }),
};

const ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "invalid_request_error",
  403: "invalid_request_error",
  404: "invalid_request_error",
  429: "requests",
  500: "server_error",
  503: "server_error",
};

/** A held-open stream's wait: until the client goes away (or 10 s, so a broken test cannot hang the run). */
function untilGone(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 10_000);
    const stop = () => {
      clearTimeout(timer);
      resolve();
    };
    signal.addEventListener("abort", stop, { once: true });
  });
}

const GPT_IMAGE_SIZES = ["1024x1024", "1536x1024", "1024x1536", "auto"];

/** A valid PNG (1-bit grey, every row alike) of any size: small and quick to make. */
export function makePng(width: number, height: number): Uint8Array {
  const chunk = (type: string, data: Uint8Array) => {
    const out = new Uint8Array(12 + data.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, data.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(data, 8);
    view.setUint32(8 + data.length, Bun.hash.crc32(out.subarray(4, 8 + data.length)));
    return out;
  };
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr.set([1, 0, 0, 0, 0], 8); // bit depth 1, greyscale, deflate, no filter, no interlace
  const rowBytes = Math.ceil(width / 8);
  const raw = new Uint8Array((rowBytes + 1) * height);
  for (let y = 0; y < height; y++) raw.fill(y % 2 ? 0xaa : 0x55, y * (rowBytes + 1) + 1, (y + 1) * (rowBytes + 1));
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", new Uint8Array(deflateSync(raw))),
    chunk("IEND", new Uint8Array()),
  ];
  return new Uint8Array(Buffer.concat(parts));
}

/** What OpenAI's strict mode demands of a JSON schema: closed objects, every property required. */
function strictProblem(schema: unknown, path: string[] = []): string | undefined {
  if (!schema || typeof schema !== "object") return undefined;
  const s = schema as Record<string, any>;
  const context = `(${path.map((p) => `'${p}'`).join(", ")}${path.length === 1 ? "," : ""})`;
  if (s.type === "object" || s.properties) {
    if (s.additionalProperties !== false)
      return `In context=${context}, 'additionalProperties' is required to be supplied and to be false.`;
    const props = Object.keys(s.properties ?? {});
    const required: string[] = Array.isArray(s.required) ? s.required : [];
    const missing = props.find((p) => !required.includes(p));
    if (missing)
      return `In context=${context}, 'required' is required to be supplied and to be an array including every key in properties. Missing '${missing}'.`;
    for (const p of props) {
      const problem = strictProblem(s.properties[p], [...path, "properties", p]);
      if (problem) return problem;
    }
  }
  if (s.items) return strictProblem(s.items, [...path, "items"]);
  for (const [i, branch] of (s.anyOf ?? []).entries()) {
    const problem = strictProblem(branch, [...path, "anyOf", String(i)]);
    if (problem) return problem;
  }
  return undefined;
}

type ErrorResponder = (
  status: number,
  message: string,
  type: string,
  code: string | null,
  param?: string | null,
) => Response;

const SORA_MODELS = ["sora-2", "sora-2-pro", "sora-2-2025-10-06", "sora-2-pro-2025-10-06", "sora-2-2025-12-08"];
const SORA_SECONDS = ["4", "8", "12"];
const SORA_SIZES = ["720x1280", "1280x720", "1024x1792", "1792x1024"];
const PRO_ONLY_SIZES = ["1024x1792", "1792x1024"];
const VIDEO_PATH = /^\/v1\/videos(?:\/([^/]+)(\/content)?)?$/;

const supported = (values: readonly string[]) =>
  `${values
    .slice(0, -1)
    .map((v) => `'${v}'`)
    .join(", ")}, and '${values.at(-1)}'`;

/** The Videos API (Sora): create, status polls that advance the render, content downloads. */
function fakeVideos(error: ErrorResponder) {
  const videos = new Map<string, FakeVideo>();
  const scripts: VideoScript[] = [];
  const clips = new Map<string, Promise<Uint8Array>>();

  const wire = (v: FakeVideo) => ({
    id: v.id,
    object: "video",
    model: v.model,
    status: v.status,
    progress: v.progress,
    prompt: v.prompt,
    seconds: v.seconds,
    size: v.size,
    created_at: v.createdAt,
    completed_at: v.completedAt,
    expires_at: v.completedAt === null ? null : v.completedAt + 3600,
    error: v.error,
    remixed_from_video_id: null,
  });

  /** The create request's fields, checked as OpenAI checks them; undefined when acceptable. */
  function check(req: RecordedRequest): Response | undefined {
    const b = req.body ?? {};
    if (typeof b.prompt !== "string" || !b.prompt)
      return error(
        400,
        "Missing required parameter: 'prompt'.",
        "invalid_request_error",
        "missing_required_parameter",
        "prompt",
      );
    const model = b.model ?? "sora-2";
    const invalid = (param: string, value: unknown, allowed: readonly string[]) =>
      error(
        400,
        `Invalid value: '${value}'. Supported values are: ${supported(allowed)}.`,
        "invalid_request_error",
        "invalid_value",
        param,
      );
    if (!SORA_MODELS.includes(model)) return invalid("model", model, SORA_MODELS);
    if (b.seconds !== undefined && !SORA_SECONDS.includes(b.seconds))
      return invalid("seconds", b.seconds, SORA_SECONDS);
    if (b.size !== undefined && !SORA_SIZES.includes(b.size)) return invalid("size", b.size, SORA_SIZES);
    if (PRO_ONLY_SIZES.includes(b.size) && !model.startsWith("sora-2-pro"))
      return error(
        400,
        `The size '${b.size}' is not supported by ${model}.`,
        "invalid_request_error",
        "invalid_value",
        "size",
      );
    return undefined;
  }

  async function create(req: RecordedRequest): Promise<Response> {
    const b = req.body;
    const size: string = b.size ?? "720x1280";
    const reference = req.files.find((f) => f.field === "input_reference") ?? null;
    if (reference) {
      const image = await sniffImage(reference.bytes);
      if (!image)
        return error(
          400,
          "Invalid file format for 'input_reference'. Supported formats: image/jpeg, image/png, image/webp.",
          "invalid_request_error",
          "invalid_value",
          "input_reference",
        );
      if (`${image.width}x${image.height}` !== size)
        return error(
          400,
          "Inpaint image must match the requested width and height",
          "invalid_request_error",
          "invalid_value",
          "input_reference",
        );
    }
    const video: FakeVideo = {
      id: `video_${crypto.randomUUID().replaceAll("-", "")}`,
      model: b.model ?? "sora-2",
      prompt: b.prompt,
      seconds: b.seconds ?? "4",
      size,
      status: "queued",
      progress: 0,
      createdAt: Math.floor(Date.now() / 1000),
      completedAt: null,
      error: null,
      polls: 0,
      downloads: 0,
      reference,
      script: scripts.shift() ?? {},
    };
    videos.set(video.id, video);
    return Response.json(wire(video));
  }

  /** One status poll: the render moves one step. */
  function advance(v: FakeVideo) {
    v.polls++;
    if (v.status === "completed" || v.status === "failed") return;
    const steps = v.script.polls ?? 1;
    if (v.polls <= steps) {
      v.status = "in_progress";
      v.progress = Math.round((100 * v.polls) / (steps + 1));
    } else if (v.script.fail) {
      v.status = "failed";
      v.error = v.script.fail;
    } else {
      v.status = "completed";
      v.progress = 100;
      v.completedAt = Math.floor(Date.now() / 1000);
    }
  }

  /** A real MP4 of the size and length (a plain colour, small and quick), made once per fake. */
  function clip(size: string, seconds: string): Promise<Uint8Array> {
    const key = `${size}:${seconds}`;
    let made = clips.get(key);
    if (!made) {
      made = withTempDir(async (dir) => {
        const out = join(dir, "video.mp4");
        const source = `color=c=0x3a6ea5:s=${size}:r=8:d=${seconds}`;
        await runFfmpeg(["-f", "lavfi", "-i", source, ...TEST_H264, out], { timeoutMs: 60_000 });
        return Bun.file(out).bytes();
      });
      clips.set(key, made);
    }
    return made;
  }

  async function handle(req: RecordedRequest, query: URLSearchParams): Promise<Response> {
    const [, id, content] = VIDEO_PATH.exec(req.path)!;
    if (!id) {
      if (req.method !== "POST") return error(405, `Method ${req.method} not allowed`, "invalid_request_error", null);
      return create(req);
    }
    const video = videos.get(id);
    if (!video) return error(404, `Video with id '${id}' not found.`, "invalid_request_error", null);
    if (!content) {
      advance(video);
      video.script.onPoll?.(video);
      return Response.json(wire(video));
    }
    if (video.status !== "completed")
      return error(
        400,
        `Video is not ready yet, use GET /v1/videos/${id} to check status.`,
        "invalid_request_error",
        null,
      );
    const variant = query.get("variant") ?? "video";
    if (variant !== "video")
      return error(
        400,
        `fake-openai: only the video variant is served, not '${variant}'`,
        "invalid_request_error",
        null,
      );
    video.downloads++;
    const bytes = video.script.content ?? (await clip(video.size, video.seconds));
    return new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { "content-type": "video/mp4" } });
  }

  return {
    videos,
    scripts,
    isVideoPath: (path: string) => VIDEO_PATH.test(path),
    check: (req: RecordedRequest) => (req.method === "POST" ? check(req) : undefined),
    handle,
    reset() {
      videos.clear();
      scripts.length = 0;
    },
  };
}

const mask = (key: string) =>
  key.length <= 8 ? "***" : `${key.slice(0, 3)}${"*".repeat(Math.max(3, key.length - 7))}${key.slice(-4)}`;

export async function startFakeOpenAI(options: { apiKey?: string } = {}) {
  const apiKey = options.apiKey ?? "sk-test-fake-openai-key-0001";
  const requests: RecordedRequest[] = [];
  const queue: Array<Reply | Handler> = [];
  let fallback: Handler | undefined;
  let counter = 0;

  const error = (
    status: number,
    message: string,
    type: string,
    code: string | null,
    param: string | null = null,
    headers: Record<string, string> = {},
  ) =>
    Response.json(
      { error: { message, type, param, code } },
      { status, headers: { "x-request-id": `req_fake_${counter}`, ...headers } },
    );

  const sora = fakeVideos(error);

  /** Rejects what the real API rejects; undefined when the request is acceptable. */
  function check(req: RecordedRequest): Response | undefined {
    const b = req.body ?? {};
    if (req.path === "/v1/chat/completions") {
      if (typeof b.model !== "string" || !b.model)
        return error(400, "you must provide a model parameter", "invalid_request_error", null, null);
      if (!Array.isArray(b.messages) || b.messages.length === 0)
        return error(
          400,
          "Missing required parameter: 'messages'.",
          "invalid_request_error",
          "missing_required_parameter",
          "messages",
        );
      if (b.stream_options != null && b.stream !== true) {
        return error(
          400,
          "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
          "invalid_request_error",
          null,
          "stream_options",
        );
      }
      const rf = b.response_format;
      if (rf?.type === "json_schema") {
        const js = rf.json_schema ?? {};
        if (typeof js.name !== "string" || !/^[a-zA-Z0-9_-]{1,64}$/.test(js.name)) {
          return error(
            400,
            `Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.`,
            "invalid_request_error",
            "invalid_value",
            "response_format.json_schema.name",
          );
        }
        if (js.strict === true) {
          if (js.schema?.type !== "object")
            return error(
              400,
              `Invalid schema for response_format '${js.name}': schema must be a JSON Schema of 'type: "object"', got 'type: "${js.schema?.type}"'.`,
              "invalid_request_error",
              "invalid_json_schema",
              "response_format",
            );
          const problem = strictProblem(js.schema);
          if (problem)
            return error(
              400,
              `Invalid schema for response_format '${js.name}': ${problem}`,
              "invalid_request_error",
              "invalid_json_schema",
              "response_format",
            );
        }
      }
      if (
        rf?.type === "json_object" &&
        !b.messages.some((m: { content?: unknown }) => /json/i.test(String(m.content ?? "")))
      ) {
        return error(
          400,
          "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
          "invalid_request_error",
          null,
          "messages",
        );
      }
      return undefined;
    }
    if (req.path === "/v1/responses") {
      if (typeof b.model !== "string" || !b.model)
        return error(
          400,
          "Missing required parameter: 'model'.",
          "invalid_request_error",
          "missing_required_parameter",
          "model",
        );
      if (b.response_format != null) {
        return error(
          400,
          "Unsupported parameter: 'response_format'. In the Responses API, this parameter has moved to 'text.format'. Try again with the new parameter.",
          "invalid_request_error",
          "unsupported_parameter",
          "response_format",
        );
      }
      if (b.max_tokens != null || b.max_completion_tokens != null) {
        const name = b.max_tokens != null ? "max_tokens" : "max_completion_tokens";
        return error(
          400,
          `Unsupported parameter: '${name}'. In the Responses API, this parameter has moved to 'max_output_tokens'. Try again with the new parameter.`,
          "invalid_request_error",
          "unsupported_parameter",
          name,
        );
      }
      for (const name of ["messages", "seed", "n"]) {
        if (b[name] != null)
          return error(400, `Unknown parameter: '${name}'.`, "invalid_request_error", "unknown_parameter", name);
      }
      if (b.stream_options?.include_usage != null)
        return error(
          400,
          "Unknown parameter: 'stream_options.include_usage'.",
          "invalid_request_error",
          "unknown_parameter",
          "stream_options.include_usage",
        );
      if (b.input == null || (Array.isArray(b.input) && b.input.length === 0))
        return error(
          400,
          "Missing required parameter: 'input'.",
          "invalid_request_error",
          "missing_required_parameter",
          "input",
        );
      if (b.max_output_tokens != null && !(Number.isInteger(b.max_output_tokens) && b.max_output_tokens >= 16)) {
        return error(
          400,
          `Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got ${b.max_output_tokens} instead.`,
          "invalid_request_error",
          "integer_below_min_value",
          "max_output_tokens",
        );
      }
      const format = b.text?.format;
      if (format?.type === "json_schema") {
        if (format.name == null)
          return error(
            400,
            "Missing required parameter: 'text.format.name'.",
            "invalid_request_error",
            "missing_required_parameter",
            "text.format.name",
          );
        if (typeof format.name !== "string" || !/^[a-zA-Z0-9_-]{1,64}$/.test(format.name)) {
          return error(
            400,
            `Invalid 'text.format.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.`,
            "invalid_request_error",
            "invalid_value",
            "text.format.name",
          );
        }
        if (format.schema == null)
          return error(
            400,
            "Missing required parameter: 'text.format.schema'.",
            "invalid_request_error",
            "missing_required_parameter",
            "text.format.schema",
          );
        if (format.strict === true) {
          if (format.schema.type !== "object")
            return error(
              400,
              `Invalid schema for response_format '${format.name}': schema must be a JSON Schema of 'type: "object"', got 'type: "${format.schema.type}"'.`,
              "invalid_request_error",
              "invalid_json_schema",
              "text.format.schema",
            );
          const problem = strictProblem(format.schema);
          if (problem)
            return error(
              400,
              `Invalid schema for response_format '${format.name}': ${problem}`,
              "invalid_request_error",
              "invalid_json_schema",
              "text.format.schema",
            );
        }
      }
      if (format?.type === "json_object" && !/json/i.test(`${b.instructions ?? ""} ${JSON.stringify(b.input)}`)) {
        return error(
          400,
          "Response input messages must contain the word 'json' in some form to use 'text.format' of type 'json_object'.",
          "invalid_request_error",
          null,
          "input",
        );
      }
      return undefined;
    }
    if (req.path === "/v1/images/generations" || req.path === "/v1/images/edits") {
      if (typeof b.prompt !== "string" || !b.prompt)
        return error(
          400,
          "Missing required parameter: 'prompt'.",
          "invalid_request_error",
          "missing_required_parameter",
          "prompt",
        );
      const model = typeof b.model === "string" ? b.model : "gpt-image-1";
      if (model.startsWith("gpt-image")) {
        if (b.response_format != null)
          return error(
            400,
            "Unknown parameter: 'response_format'.",
            "invalid_request_error",
            "unknown_parameter",
            "response_format",
          );
        if (b.size != null && !GPT_IMAGE_SIZES.includes(b.size)) {
          return error(
            400,
            `Invalid value: '${b.size}'. Supported values are: '1024x1024', '1024x1536', '1536x1024', and 'auto'.`,
            "invalid_request_error",
            "invalid_value",
            "size",
          );
        }
      }
      if (req.path === "/v1/images/edits" && !req.files.some((f) => f.field === "image" || f.field === "image[]")) {
        return error(
          400,
          "Missing required parameter: 'image'.",
          "invalid_request_error",
          "missing_required_parameter",
          "image",
        );
      }
      return undefined;
    }
    if (sora.isVideoPath(req.path)) return sora.check(req);
    return error(404, `Invalid URL (${req.method} ${req.path})`, "invalid_request_error", null);
  }

  function chatCompletion(req: RecordedRequest, r: ChatReply): Response {
    const promptChars = (req.body.messages as Array<{ content?: unknown }>).reduce(
      (n, m) => n + String(m.content ?? "").length,
      0,
    );
    const content = r.refusal ? null : r.content;
    const usage = r.usage ?? {
      prompt_tokens: Math.ceil(promptChars / 4),
      completion_tokens: Math.ceil((content ?? r.refusal ?? "").length / 4),
    };
    return Response.json(
      {
        id: `chatcmpl-fake${counter}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: req.body.model,
        choices: [
          {
            index: 0,
            message: { role: "assistant", content, refusal: r.refusal ?? null, annotations: [] },
            logprobs: null,
            finish_reason: r.finishReason ?? "stop",
          },
        ],
        usage: {
          ...usage,
          total_tokens: usage.prompt_tokens + usage.completion_tokens,
          prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
          completion_tokens_details: {
            reasoning_tokens: 0,
            audio_tokens: 0,
            accepted_prediction_tokens: 0,
            rejected_prediction_tokens: 0,
          },
        },
        service_tier: "default",
        system_fingerprint: "fp_fake",
      },
      { headers: { "x-request-id": `req_fake_${counter}` } },
    );
  }

  function chatStream(req: RecordedRequest, r: StreamReply, signal: AbortSignal): Response {
    const id = `chatcmpl-fake${counter}`;
    const created = Math.floor(Date.now() / 1000);
    const includeUsage = req.body.stream_options?.include_usage === true;
    const base = {
      id,
      object: "chat.completion.chunk",
      created,
      model: req.body.model,
      service_tier: "default",
      system_fingerprint: "fp_fake",
    };
    const withUsage = (o: object) => (includeUsage ? { ...o, usage: null } : o);
    const encoder = new TextEncoder();
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        const send = (data: unknown) =>
          controller.enqueue(encoder.encode(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`));
        try {
          send(
            withUsage({
              ...base,
              choices: [
                {
                  index: 0,
                  delta: { role: "assistant", content: "", refusal: null },
                  logprobs: null,
                  finish_reason: null,
                },
              ],
            }),
          );
          let sent = 0;
          for (const delta of r.deltas) {
            if (r.delayMs) await sleep(r.delayMs);
            if (signal.aborted) return;
            sent += delta.length;
            send(
              withUsage({
                ...base,
                choices: [{ index: 0, delta: { content: delta }, logprobs: null, finish_reason: null }],
              }),
            );
          }
          if (r.holdOpen) return untilGone(signal);
          if (r.errorEvent) {
            send({ error: { ...r.errorEvent, param: null } });
            return;
          }
          send(
            withUsage({
              ...base,
              choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: r.finishReason ?? "stop" }],
            }),
          );
          if (includeUsage) {
            const promptChars = (req.body.messages as Array<{ content?: unknown }>).reduce(
              (n, m) => n + String(m.content ?? "").length,
              0,
            );
            const u = r.usage ?? { prompt_tokens: Math.ceil(promptChars / 4), completion_tokens: Math.ceil(sent / 4) };
            send({
              ...base,
              choices: [],
              usage: {
                ...u,
                total_tokens: u.prompt_tokens + u.completion_tokens,
                prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
                completion_tokens_details: { reasoning_tokens: 0 },
              },
            });
          }
          send("[DONE]");
        } finally {
          try {
            controller.close();
          } catch {
            // Already closed by a client that went away.
          }
        }
      },
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-request-id": `req_fake_${counter}`,
      },
    });
  }

  /** The characters of a /v1/responses request's instructions and input, for estimated usage. */
  function responsesPromptChars(b: any): number {
    const text = (content: unknown): string =>
      typeof content === "string"
        ? content
        : Array.isArray(content)
          ? content.map((p: { text?: unknown }) => (typeof p?.text === "string" ? p.text : "")).join("")
          : "";
    const input =
      typeof b.input === "string"
        ? b.input
        : (b.input as Array<{ content?: unknown }>).map((item) => text(item?.content)).join("");
    return String(b.instructions ?? "").length + input.length;
  }

  /** A Response object as /v1/responses returns it (no `output_text`: the SDK adds that). */
  function responseObject(
    req: RecordedRequest,
    o: {
      id: string;
      status: string;
      incompleteReason?: string | null;
      output: unknown[];
      usage: { input_tokens: number; output_tokens: number } | null;
      createdAt: number;
    },
  ) {
    const b = req.body;
    return {
      id: o.id,
      object: "response",
      created_at: o.createdAt,
      status: o.status,
      background: false,
      error: null,
      incomplete_details: o.incompleteReason ? { reason: o.incompleteReason } : null,
      instructions: b.instructions ?? null,
      max_output_tokens: b.max_output_tokens ?? null,
      max_tool_calls: null,
      model: b.model,
      output: o.output,
      parallel_tool_calls: true,
      previous_response_id: null,
      reasoning: { effort: null, summary: null },
      service_tier: "default",
      store: b.store ?? true,
      temperature: 1,
      text: { format: b.text?.format ?? { type: "text" }, verbosity: "medium" },
      tool_choice: "auto",
      tools: [],
      top_p: 1,
      truncation: "disabled",
      usage: o.usage
        ? {
            input_tokens: o.usage.input_tokens,
            input_tokens_details: { cached_tokens: 0 },
            output_tokens: o.usage.output_tokens,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: o.usage.input_tokens + o.usage.output_tokens,
          }
        : null,
      user: null,
      metadata: {},
    };
  }

  const INCOMPLETE: Partial<Record<string, string>> = { length: "max_output_tokens", content_filter: "content_filter" };

  function responsesResponse(req: RecordedRequest, r: ChatReply): Response {
    const incompleteReason = INCOMPLETE[r.finishReason ?? "stop"] ?? null;
    const content = r.refusal
      ? [{ type: "refusal", refusal: r.refusal }]
      : r.content === null
        ? []
        : [{ type: "output_text", annotations: [], logprobs: [], text: r.content }];
    const u = r.usage ?? {
      prompt_tokens: Math.ceil(responsesPromptChars(req.body) / 4),
      completion_tokens: Math.ceil((r.content ?? r.refusal ?? "").length / 4),
    };
    const body = responseObject(req, {
      id: `resp_fake${counter}`,
      createdAt: Math.floor(Date.now() / 1000),
      status: incompleteReason ? "incomplete" : "completed",
      incompleteReason,
      output: [
        {
          id: `msg_fake${counter}`,
          type: "message",
          status: incompleteReason ? "incomplete" : "completed",
          role: "assistant",
          content,
        },
      ],
      usage: { input_tokens: u.prompt_tokens, output_tokens: u.completion_tokens },
    });
    return Response.json(body, { headers: { "x-request-id": `req_fake_${counter}` } });
  }

  function responsesStream(req: RecordedRequest, r: StreamReply, signal: AbortSignal): Response {
    const id = `resp_fake${counter}`;
    const itemId = `msg_fake${counter}`;
    const createdAt = Math.floor(Date.now() / 1000);
    const encoder = new TextEncoder();
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    let sequence = 0;
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        const send = (type: string, data: object) =>
          controller.enqueue(
            encoder.encode(
              `event: ${type}\ndata: ${JSON.stringify({ type, ...data, sequence_number: sequence++ })}\n\n`,
            ),
          );
        const response = (
          status: string,
          o: {
            output?: unknown[];
            usage?: { input_tokens: number; output_tokens: number } | null;
            incompleteReason?: string | null;
          } = {},
        ) =>
          responseObject(req, {
            id,
            createdAt,
            status,
            output: o.output ?? [],
            usage: o.usage ?? null,
            incompleteReason: o.incompleteReason,
          });
        try {
          send("response.created", { response: response("in_progress") });
          send("response.in_progress", { response: response("in_progress") });
          send("response.output_item.added", {
            output_index: 0,
            item: { id: itemId, type: "message", status: "in_progress", content: [], role: "assistant" },
          });
          send("response.content_part.added", {
            item_id: itemId,
            output_index: 0,
            content_index: 0,
            part: { type: "output_text", annotations: [], logprobs: [], text: "" },
          });
          let text = "";
          for (const delta of r.deltas) {
            if (r.delayMs) await sleep(r.delayMs);
            if (signal.aborted) return;
            text += delta;
            send("response.output_text.delta", {
              item_id: itemId,
              output_index: 0,
              content_index: 0,
              delta,
              logprobs: [],
            });
          }
          if (r.holdOpen) return untilGone(signal);
          if (r.errorEvent) {
            if (r.errorAs === "response.failed") {
              send("response.failed", {
                response: {
                  ...response("failed"),
                  error: { code: r.errorEvent.code ?? r.errorEvent.type, message: r.errorEvent.message },
                },
              });
            } else {
              send("error", {
                code: r.errorEvent.code ?? r.errorEvent.type,
                message: r.errorEvent.message,
                param: null,
              });
            }
            return;
          }
          const incompleteReason = INCOMPLETE[r.finishReason ?? "stop"] ?? null;
          const part = { type: "output_text", annotations: [], logprobs: [], text };
          const item = {
            id: itemId,
            type: "message",
            status: incompleteReason ? "incomplete" : "completed",
            content: [part],
            role: "assistant",
          };
          send("response.output_text.done", { item_id: itemId, output_index: 0, content_index: 0, text, logprobs: [] });
          send("response.content_part.done", { item_id: itemId, output_index: 0, content_index: 0, part });
          send("response.output_item.done", { output_index: 0, item });
          const u = r.usage ?? {
            prompt_tokens: Math.ceil(responsesPromptChars(req.body) / 4),
            completion_tokens: Math.ceil(text.length / 4),
          };
          const final = response(incompleteReason ? "incomplete" : "completed", {
            output: [item],
            usage: { input_tokens: u.prompt_tokens, output_tokens: u.completion_tokens },
            incompleteReason,
          });
          send(incompleteReason ? "response.incomplete" : "response.completed", { response: final });
        } finally {
          try {
            controller.close();
          } catch {
            // Already closed by a client that went away.
          }
        }
      },
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-request-id": `req_fake_${counter}`,
      },
    });
  }

  function imageResponse(req: RecordedRequest, r: ImageReply): Response {
    const size = typeof req.body.size === "string" && /^\d+x\d+$/.test(req.body.size) ? req.body.size : "1024x1024";
    const [w, h] = size.split("x").map(Number) as [number, number];
    const bytes = r.bytes ?? makePng(w, h);
    return Response.json({
      created: Math.floor(Date.now() / 1000),
      background: "opaque",
      data: [{ b64_json: Buffer.from(bytes).toString("base64") }],
      output_format: "png",
      quality: "medium",
      size,
      usage: {
        input_tokens: 50,
        input_tokens_details: { image_tokens: req.files.length * 40, text_tokens: 10 },
        output_tokens: 1056,
        total_tokens: 1106,
      },
    });
  }

  async function answer(req: RecordedRequest, r: Reply, signal: AbortSignal): Promise<Response> {
    switch (r.kind) {
      case "raw":
        return r.response;
      case "error":
        return error(r.status, r.message, r.type, r.code, r.param ?? null, r.headers);
      case "chat":
        if (req.path === "/v1/responses") return responsesResponse(req, r);
        return chatCompletion(req, r);
      case "stream":
        if (req.body.stream !== true)
          return error(
            500,
            "fake-openai: a stream reply was queued for a request without stream: true",
            "server_error",
            null,
          );
        if (req.path === "/v1/responses") return responsesStream(req, r, signal);
        return chatStream(req, r, signal);
      case "image":
        return imageResponse(req, r);
    }
  }

  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      counter++;
      const url = new URL(request.url);
      const headers: Record<string, string> = {};
      request.headers.forEach((value, name) => {
        headers[name] = value;
      });
      const rec: RecordedRequest = { method: request.method, path: url.pathname, headers, body: undefined, files: [] };
      const type = request.headers.get("content-type") ?? "";
      if (type.includes("multipart/form-data")) {
        const form = await request.formData();
        const fields: Record<string, string | string[]> = {};
        for (const [name, value] of form.entries()) {
          if (typeof value === "string") {
            const prev = fields[name];
            fields[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
          } else {
            const file = value as File;
            rec.files.push({
              field: name,
              filename: file.name,
              type: file.type,
              bytes: new Uint8Array(await file.arrayBuffer()),
            });
          }
        }
        rec.body = fields;
      } else {
        const text = await request.text();
        try {
          rec.body = text ? JSON.parse(text) : undefined;
        } catch {
          rec.body = text;
        }
      }
      requests.push(rec);

      const auth = request.headers.get("authorization") ?? "";
      const given = auth.replace(/^Bearer\s+/i, "");
      if (!auth) {
        return error(
          401,
          "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
          "invalid_request_error",
          null,
        );
      }
      if (given !== apiKey) {
        return error(
          401,
          `Incorrect API key provided: ${mask(given)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
          "invalid_request_error",
          "invalid_api_key",
        );
      }
      const rejected = check(rec);
      if (rejected) return rejected;
      if (sora.isVideoPath(rec.path)) {
        const canned = queue.shift();
        if (!canned) return sora.handle(rec, url.searchParams);
        return answer(rec, typeof canned === "function" ? await canned(rec) : canned, request.signal);
      }

      const next = queue.shift() ?? fallback;
      if (!next) {
        // x-should-retry: false keeps the SDK from retrying a mistake of the test.
        return error(500, `fake-openai: no canned reply for ${rec.method} ${rec.path}`, "server_error", null, null, {
          "x-should-retry": "false",
        });
      }
      const r = typeof next === "function" ? await next(rec) : next;
      return answer(rec, r, request.signal);
    },
  });

  return {
    /** The SDK's baseURL. */
    url: `http://127.0.0.1:${server.port}/v1`,
    apiKey,
    requests,
    /** Canned replies (or handlers), one per accepted request, in order. */
    enqueue(...replies: Array<Reply | Handler>) {
      queue.push(...replies);
    },
    /** The reply when the queue is empty. */
    setFallback(handler: Handler | undefined) {
      fallback = handler;
    },
    /** Replies queued and not yet used. */
    pending: () => queue.length,
    /** Forgets the queue, the fallback and the recorded requests. */
    reset() {
      queue.length = 0;
      requests.length = 0;
      fallback = undefined;
      sora.reset();
    },
    /** Every video created, by id (delete one to make it expire). */
    videos: sora.videos,
    /** How the next created videos behave, one script each, in order (default: one in_progress poll, then completed). */
    scriptVideos(...scripts: VideoScript[]) {
      sora.scripts.push(...scripts);
    },
    stop: () => server.stop(true),
  };
}

export type FakeOpenAI = Awaited<ReturnType<typeof startFakeOpenAI>>;
