// A local stand-in for the ElevenLabs API, speaking the wire format @elevenlabs/elevenlabs-js
// 2.73 uses, for the three calls Inkreel makes:
//   POST /v1/text-to-speech/{voice_id}/with-timestamps  JSON in (snake_case), JSON out:
//        {audio_base64, alignment: {characters, character_start_times_seconds,
//        character_end_times_seconds}, normalized_alignment}
//   GET  /v1/voices                                     {voices: [{voice_id, name, labels, preview_url, …}]}
//   POST /v1/music                                      audio/mpeg bytes
// The audio is real MP3 (MPEG-1 Layer III, 44.1 kHz mono, 128 kbit/s, like mp3_44100_128): a
// tone encoded once per process with ffmpeg, cut at frame boundaries to the length asked for. The
// character times follow the text (0.08 s a character, shorter for spaces, longer for punctuation,
// divided by voice_settings.speed), and the audio lasts as long as the last character's end plus
// `tailS`, rounded up to a whole MP3 frame (26.1 ms).
// Errors have ElevenLabs' shapes: {detail: {status, message}} (401 invalid_api_key, 404
// voice_not_found, 429 too_many_concurrent_requests, …) and FastAPI's 422
// {detail: [{type, loc, msg, input}]}. Failures and slow answers can be scripted per route; every
// request is recorded (headers lower-cased, JSON bodies parsed).
import { join } from "node:path";
import { runFfmpeg, withTempDir } from "../../src/media/ffmpeg.ts";

export type FakeRoute = "tts" | "voices" | "music" | "clone";

export interface RecordedElevenLabsRequest {
  route: FakeRoute | null;
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: unknown;
  /** The client went away before the answer (an abort). */
  aborted: boolean;
}

export interface ScriptedAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const SAMPLE_RATE = 44_100;
const FRAME_SAMPLES = 1152;
const BASE_SECONDS = 30;

/** The error answers ElevenLabs gives, for `fail()`. */
export const elevenLabsErrors = {
  invalidKey: (): ScriptedAnswer => ({
    status: 401,
    body: { detail: { status: "invalid_api_key", message: "Invalid API key" } },
  }),
  quotaExceeded: (): ScriptedAnswer => ({
    status: 401,
    body: {
      detail: {
        status: "quota_exceeded",
        message:
          "This request exceeds your quota of 10000. You have 12 credits remaining, while 200 credits are required for this request.",
      },
    },
  }),
  tooManyRequests: (retryAfterS?: number): ScriptedAnswer => ({
    status: 429,
    headers: retryAfterS !== undefined ? { "retry-after": String(retryAfterS) } : {},
    body: {
      detail: {
        status: "too_many_concurrent_requests",
        message:
          "Too many concurrent requests. Your current subscription is associated with a maximum of 2 concurrent requests (running in parallel).",
      },
    },
  }),
  systemBusy: (): ScriptedAnswer => ({
    status: 429,
    body: {
      detail: {
        status: "system_busy",
        message: "Our services are experiencing high levels of traffic and your request could not be processed.",
      },
    },
  }),
  validation: (
    loc: Array<string | number>,
    msg: string,
    type = "value_error",
    input: unknown = null,
  ): ScriptedAnswer => ({
    status: 422,
    body: { detail: [{ type, loc, msg, input }] },
  }),
  serverError: (): ScriptedAnswer => ({
    status: 500,
    body: { detail: { status: "internal_error", message: "An internal error occurred." } },
  }),
};

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  Response.json(body, { status, headers });
const detail = (status: number, code: string, message: string) => json({ detail: { status: code, message } }, status);

let base: Promise<{ bytes: Uint8Array; frames: Array<[number, number]> }> | null = null;

/** The tone as MP3, once per process, and where each of its frames lies. */
function baseMp3() {
  base ??= withTempDir(async (dir) => {
    const path = join(dir, "tone.mp3");
    // No Xing header (it would state the whole file's length) and no ID3 tag: a bare frame stream, like a streamed answer.
    await runFfmpeg([
      "-f",
      "lavfi",
      "-i",
      `sine=frequency=220:sample_rate=${SAMPLE_RATE}:duration=${BASE_SECONDS}`,
      "-ac",
      "1",
      "-c:a",
      "libmp3lame",
      "-b:a",
      "128k",
      "-write_xing",
      "0",
      "-id3v2_version",
      "0",
      "-f",
      "mp3",
      path,
    ]);
    const bytes = await Bun.file(path).bytes();
    const frames: Array<[number, number]> = [];
    const kbps = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
    for (let at = 0; at + 4 <= bytes.length && bytes[at] === 0xff; ) {
      const length = Math.floor((144_000 * kbps[bytes[at + 2]! >> 4]!) / SAMPLE_RATE) + ((bytes[at + 2]! >> 1) & 1);
      if (at + length > bytes.length) break;
      frames.push([at, at + length]);
      at += length;
    }
    if (frames.length < (BASE_SECONDS * SAMPLE_RATE) / FRAME_SAMPLES - 2)
      throw new Error(`the fake's MP3 has only ${frames.length} frames`);
    return { bytes, frames };
  });
  return base;
}

/** An MP3 of whole frames lasting at least `seconds`. */
async function mp3Of(seconds: number): Promise<Uint8Array<ArrayBuffer>> {
  const { bytes, frames } = await baseMp3();
  const count = Math.max(1, Math.ceil((seconds * SAMPLE_RATE) / FRAME_SAMPLES - 1e-9));
  const parts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const [from, to] = frames[i % frames.length]!;
    parts.push(bytes.subarray(from, to));
  }
  return new Uint8Array(Buffer.concat(parts));
}

const SENTENCE_END = new Set([..."。！？!?.…；;"]);
const PAUSE = new Set([..."，,、：:“”「」\"'（）()—-"]);

/** Seconds each character takes at speed 1. */
function characterSeconds(c: string): number {
  if (/\s/.test(c)) return 0.04;
  if (SENTENCE_END.has(c)) return 0.2;
  if (PAUSE.has(c)) return 0.1;
  return 0.08;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** The character alignment the fake speaks `text` with. */
export function fakeAlignment(text: string, speed = 1) {
  const characters = [...text];
  const starts: number[] = [];
  const ends: number[] = [];
  let at = 0;
  for (const c of characters) {
    starts.push(round3(at));
    at += characterSeconds(c) / speed;
    ends.push(round3(at));
  }
  return { characters, character_start_times_seconds: starts, character_end_times_seconds: ends };
}

/** A voice as GET /v1/voices lists it (the fields the fake fills; ElevenLabs sends more). */
export interface FakeVoice {
  voice_id: string;
  name: string;
  category?: string;
  labels: Record<string, string>;
  description?: string | null;
  preview_url: string | null;
  [more: string]: unknown;
}

const VOICES: FakeVoice[] = [
  {
    voice_id: "21m00Tcm4TlvDq8ikWAM",
    name: "Rachel",
    samples: null,
    category: "premade",
    fine_tuning: null,
    labels: { accent: "american", description: "calm", age: "young", gender: "female", use_case: "narration" },
    description: "A calm young American woman, for narration.",
    preview_url:
      "https://storage.googleapis.com/eleven-public-prod/premade/voices/21m00Tcm4TlvDq8ikWAM/df6788f9-5c96-470d-8312-aab3b3d8f50a.mp3",
    available_for_tiers: [],
    settings: null,
    sharing: null,
    high_quality_base_model_ids: ["eleven_multilingual_v2", "eleven_flash_v2_5"],
    verified_languages: [],
    is_owner: false,
    is_legacy: false,
    is_mixed: false,
  },
  {
    voice_id: "pNInz6obpgDQGcFmaJgB",
    name: "Adam",
    samples: null,
    category: "premade",
    fine_tuning: null,
    labels: { accent: "american", description: "deep", age: "middle aged", gender: "male", use_case: "narration" },
    description: null,
    preview_url:
      "https://storage.googleapis.com/eleven-public-prod/premade/voices/pNInz6obpgDQGcFmaJgB/38a69695-2ca9-4b9e-b9ec-f07ced494a58.mp3",
    available_for_tiers: [],
    settings: null,
    sharing: null,
    high_quality_base_model_ids: [],
  },
  {
    voice_id: "zhNarrator0000000001",
    name: "茶馆说书人",
    category: "cloned",
    labels: { language: "zh", accent: "standard", gender: "male" },
    preview_url: null,
  },
];

const TTS_PATH = /^\/v1\/text-to-speech\/([^/]+)\/with-timestamps$/;
const LANGUAGE_CODE_MODELS = /_v2_5$|^eleven_v3/;

/** The voices the fake lists when not told otherwise. */
export const DEFAULT_FAKE_VOICES: readonly FakeVoice[] = VOICES;

/** A premade-style voice with ElevenLabs' labels, for `voices` / `setVoices`. */
export function fakeVoice(voice_id: string, name: string, labels: Record<string, string>): FakeVoice {
  return {
    voice_id,
    name,
    category: "premade",
    labels,
    description: null,
    preview_url: `https://example.invalid/previews/${voice_id}.mp3`,
  };
}

export async function startFakeElevenLabs(
  options: {
    apiKey?: string;
    tailS?: number /** The account's voices (default DEFAULT_FAKE_VOICES). */;
    voices?: readonly FakeVoice[];
  } = {},
) {
  const apiKey = options.apiKey ?? "sk_fake_elevenlabs_0123456789abcdef";
  const tailS = options.tailS ?? 0;
  await baseMp3();
  const requests: RecordedElevenLabsRequest[] = [];
  const closings = new WeakMap<RecordedElevenLabsRequest, Promise<void>>();
  const arrivals: Array<{ route: FakeRoute; arrived: (r: RecordedElevenLabsRequest) => void }> = [];
  const failures: Record<FakeRoute, ScriptedAnswer[]> = { tts: [], voices: [], music: [], clone: [] };
  const delays: Record<FakeRoute, number> = { tts: 0, voices: 0, music: 0, clone: 0 };
  /** The JSON of every successful speech answer, in order. */
  const speeches: Array<{
    audio_base64: string;
    alignment: ReturnType<typeof fakeAlignment>;
    normalized_alignment: ReturnType<typeof fakeAlignment>;
  }> = [];
  let voices: readonly FakeVoice[] = options.voices ?? VOICES;
  let voiceIds = new Set(voices.map((v) => v.voice_id));

  async function tts(voiceId: string, body: Record<string, unknown>, query: Record<string, string>): Promise<Response> {
    if (!voiceIds.has(voiceId))
      return detail(404, "voice_not_found", `A voice with the voice_id ${voiceId} was not found.`);
    if (typeof body.text !== "string")
      return json({ detail: [{ type: "missing", loc: ["body", "text"], msg: "Field required", input: body }] }, 422);
    if (!body.text.trim()) return detail(400, "empty_text", "The text is empty.");
    const model = typeof body.model_id === "string" ? body.model_id : "eleven_multilingual_v2";
    if (body.language_code !== undefined && !LANGUAGE_CODE_MODELS.test(model)) {
      return detail(400, "unsupported_language", `Model '${model}' does not support language_code.`);
    }
    const settings = (body.voice_settings ?? {}) as Record<string, unknown>;
    const speed = settings.speed === undefined ? 1 : settings.speed;
    if (typeof speed !== "number")
      return json(
        {
          detail: [
            {
              type: "float_type",
              loc: ["body", "voice_settings", "speed"],
              msg: "Input should be a valid number",
              input: speed,
            },
          ],
        },
        422,
      );
    if (speed < 0.7)
      return json(
        {
          detail: [
            {
              type: "greater_than_equal",
              loc: ["body", "voice_settings", "speed"],
              msg: "Input should be greater than or equal to 0.7",
              input: speed,
            },
          ],
        },
        422,
      );
    if (speed > 1.2)
      return json(
        {
          detail: [
            {
              type: "less_than_equal",
              loc: ["body", "voice_settings", "speed"],
              msg: "Input should be less than or equal to 1.2",
              input: speed,
            },
          ],
        },
        422,
      );
    const format = query.output_format ?? "mp3_44100_128";
    if (format !== "mp3_44100_128")
      return detail(400, "invalid_output_format", `The fake only speaks mp3_44100_128, not ${format}.`);
    const alignment = fakeAlignment(body.text, speed);
    const lastEnd = alignment.character_end_times_seconds.at(-1) ?? 0;
    const audio = await mp3Of(lastEnd + tailS);
    const answer = { audio_base64: Buffer.from(audio).toString("base64"), alignment, normalized_alignment: alignment };
    speeches.push(answer);
    return json(answer, 200, { "request-id": `req_${speeches.length}` });
  }

  async function music(body: Record<string, unknown>): Promise<Response> {
    if (body.prompt !== undefined && body.composition_plan !== undefined)
      return detail(400, "invalid_request", "Use either prompt or composition_plan, not both.");
    if (typeof body.prompt !== "string" || !body.prompt.trim())
      return json({ detail: [{ type: "missing", loc: ["body", "prompt"], msg: "Field required", input: body }] }, 422);
    if (body.seed !== undefined) return detail(400, "invalid_request", "seed cannot be used together with prompt.");
    const ms = body.music_length_ms === undefined ? 30_000 : body.music_length_ms;
    if (typeof ms !== "number" || ms < 3000 || ms > 600_000) {
      return json(
        {
          detail: [
            {
              type: "value_error",
              loc: ["body", "music_length_ms"],
              msg: "Value error, music_length_ms must be between 3000 and 600000",
              input: ms,
            },
          ],
        },
        422,
      );
    }
    return new Response(await mp3Of(ms / 1000), {
      headers: { "content-type": "audio/mpeg", "song-id": `song_${requests.length}` },
    });
  }

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const headers: Record<string, string> = {};
      req.headers.forEach((value, name) => {
        headers[name] = value;
      });
      const tts_ = TTS_PATH.exec(url.pathname);
      const route: FakeRoute | null =
        req.method === "POST" && tts_
          ? "tts"
          : req.method === "GET" && url.pathname === "/v1/voices"
            ? "voices"
            : req.method === "POST" && url.pathname === "/v1/music"
              ? "music"
              : req.method === "POST" && url.pathname === "/v1/voices/add"
                ? "clone"
                : null;
      const record: RecordedElevenLabsRequest = {
        route,
        method: req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers,
        body: null,
        aborted: false,
      };
      requests.push(record);
      for (const a of arrivals.splice(0)) {
        if (a.route === route) a.arrived(record);
        else arrivals.push(a);
      }
      let closed!: () => void;
      closings.set(record, new Promise<void>((resolve) => (closed = resolve)));
      req.signal.addEventListener(
        "abort",
        () => {
          record.aborted = true;
          closed();
        },
        { once: true },
      );
      if (route === "clone") {
        // Instant voice clone: multipart name, files[], description, labels (a JSON object).
        const form = await req.formData();
        const files = await Promise.all(
          form.getAll("files").map(async (f) => {
            const file = f as File;
            const bytes = new Uint8Array(await file.arrayBuffer());
            return {
              name: file.name,
              type: file.type,
              size: bytes.length,
              sha256: new Bun.CryptoHasher("sha256").update(bytes).digest("hex"),
            };
          }),
        );
        record.body = {
          name: form.get("name"),
          description: form.get("description"),
          labels: form.get("labels"),
          files,
        };
      } else if (req.method === "POST") {
        const text = await req.text();
        try {
          record.body = text ? JSON.parse(text) : null;
        } catch {
          return json(
            { detail: [{ type: "json_invalid", loc: ["body", 0], msg: "JSON decode error", input: {} }] },
            422,
          );
        }
      }
      if (!route) return json({ detail: "Not Found" }, 404);
      if (delays[route] > 0) {
        // A slow answer is the behaviour this fake is asked for (delay()); a client going away ends it.
        await Promise.race([
          Bun.sleep(delays[route]),
          new Promise((resolve) => req.signal.addEventListener("abort", resolve, { once: true })),
        ]);
        if (record.aborted) return new Response(null, { status: 499 });
      }
      const key = headers["xi-api-key"];
      if (!key)
        return detail(
          401,
          "needs_authorization",
          "Neither authorization header nor xi-api-key received, please provide one.",
        );
      if (key !== apiKey) return detail(401, "invalid_api_key", "Invalid API key");
      const scripted = failures[route].shift();
      if (scripted) return json(scripted.body, scripted.status, scripted.headers ?? {});
      const body = (record.body ?? {}) as Record<string, unknown>;
      if (route === "tts") return tts(decodeURIComponent(tts_![1]!), body, record.query);
      if (route === "voices")
        return json({ voices, has_more: false, total_count: voices.length, next_page_token: null });
      if (route === "clone") {
        if (typeof body.name !== "string" || !Array.isArray(body.files) || body.files.length === 0)
          return json({ detail: [{ type: "missing", loc: ["body", "files"], msg: "Field required" }] }, 422);
        const voice_id = `clone${requests.filter((r) => r.route === "clone").length}${body.name.length}`;
        voices = [...voices, fakeVoice(voice_id, body.name, {})];
        voiceIds = new Set(voices.map((v) => v.voice_id));
        return json({ voice_id, requires_verification: false });
      }
      return music(body);
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}`,
    apiKey,
    requests,
    speeches,
    /** The voices listed now. */
    get voices() {
      return voices;
    },
    /** From now on the account has these voices (speech with any other voice_id is a 404 voice_not_found). */
    setVoices(next: readonly FakeVoice[]) {
      voices = next;
      voiceIds = new Set(next.map((v) => v.voice_id));
    },
    /** The recorded requests of a route. */
    calls: (route: FakeRoute) => requests.filter((r) => r.route === route),
    /** Resolves with the next request of the route as soon as it is received (before it is answered). */
    arrived: (route: FakeRoute) =>
      new Promise<RecordedElevenLabsRequest>((arrived) => void arrivals.push({ route, arrived })),
    /** Settles once the client of a recorded request goes away before its answer (an abort). */
    closed: (record: RecordedElevenLabsRequest) =>
      closings.get(record) ?? Promise.reject(new Error("not a request recorded by this fake")),
    /** The next `times` requests of the route (after the key check) get this answer. */
    fail(route: FakeRoute, answer: ScriptedAnswer, times = 1) {
      for (let i = 0; i < times; i++) failures[route].push(answer);
    },
    /** Answers of the route wait this long first (0: at once); a client that goes away is noticed. */
    delay(route: FakeRoute, ms: number) {
      delays[route] = ms;
    },
    reset() {
      requests.length = 0;
      speeches.length = 0;
      arrivals.length = 0;
      for (const r of Object.keys(failures) as FakeRoute[]) {
        failures[r].length = 0;
        delays[r] = 0;
      }
    },
    stop: () => server.stop(true),
  };
}

export type FakeElevenLabs = Awaited<ReturnType<typeof startFakeElevenLabs>>;
