// A small local stand-in for Supabase Realtime's REST broadcast endpoint, speaking its wire format
// (supabase/realtime BroadcastController + BatchBroadcast): `POST /realtime/v1/api/broadcast` with
// the project's key in `apikey` and/or `Authorization: Bearer`, a JSON body `{messages: [{topic,
// event, payload, private?}]}` (topic, event and payload required; payload an object) answered
// 202 with an empty body, 422 when the body does not match, 401 without a valid key. Records
// every request and every accepted message.

export interface BroadcastRecord {
  topic: string;
  event: string;
  payload: Record<string, unknown>;
  private: boolean;
}

export interface RecordedBroadcastRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
  status: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The changeset errors Realtime would answer 422 with; empty when the body is valid. */
function bodyErrors(body: unknown): string[] {
  if (!isObject(body)) return ["body must be a JSON object"];
  const allowed = new Set(["messages"]);
  const errors = Object.keys(body)
    .filter((k) => !allowed.has(k))
    .map((k) => `unexpected field ${k}`);
  if (!Array.isArray(body.messages) || body.messages.length === 0) return [...errors, "messages: can't be blank"];
  for (const [i, m] of (body.messages as unknown[]).entries()) {
    if (!isObject(m)) {
      errors.push(`messages[${i}]: must be an object`);
      continue;
    }
    for (const k of Object.keys(m))
      if (!["id", "topic", "event", "payload", "private"].includes(k)) errors.push(`messages[${i}].${k}: unexpected`);
    if (typeof m.topic !== "string" || !m.topic) errors.push(`messages[${i}].topic: can't be blank`);
    if (typeof m.event !== "string" || !m.event) errors.push(`messages[${i}].event: can't be blank`);
    if (!isObject(m.payload)) errors.push(`messages[${i}].payload: is invalid`);
    if (m.private !== undefined && typeof m.private !== "boolean") errors.push(`messages[${i}].private: is invalid`);
  }
  return errors;
}

export function startFakeRealtime(options: { serviceRoleKey?: string } = {}) {
  const serviceRoleKey = options.serviceRoleKey ?? "sb_secret_fake_service_role_key_0123456789";
  const requests: RecordedBroadcastRequest[] = [];
  const messages: BroadcastRecord[] = [];
  /** Set to make the next requests fail with this status (e.g. 500, 429). */
  const settings = { failWith: null as number | null };
  const waiters = new Set<() => void>();

  function answer(status: number, body: unknown = null) {
    return body === null ? new Response(null, { status }) : Response.json(body, { status });
  }

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const { pathname } = new URL(req.url);
      const headers: Record<string, string> = {};
      req.headers.forEach((value, name) => {
        headers[name] = value;
      });
      const text = await req.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {}
      const record = (status: number) => {
        requests.push({ method: req.method, path: pathname, headers, body, status });
        for (const wake of waiters) wake();
      };
      if (req.method !== "POST" || pathname !== "/realtime/v1/api/broadcast") {
        record(404);
        return answer(404, { message: "Not Found" });
      }
      const bearer = /^Bearer (.+)$/.exec(headers.authorization ?? "")?.[1];
      if (headers.apikey !== serviceRoleKey || (bearer !== undefined && bearer !== serviceRoleKey)) {
        record(401);
        return answer(401, { message: "Error authorizing the request" });
      }
      if (!(headers["content-type"] ?? "").startsWith("application/json") || typeof body === "string") {
        record(400);
        return answer(400, { message: "Malformed JSON" });
      }
      if (settings.failWith) {
        record(settings.failWith);
        return answer(settings.failWith, { message: "simulated failure" });
      }
      const errors = bodyErrors(body);
      if (errors.length) {
        record(422);
        return answer(422, { errors });
      }
      for (const m of (body as { messages: Array<Record<string, unknown>> }).messages) {
        messages.push({
          topic: m.topic as string,
          event: m.event as string,
          payload: m.payload as Record<string, unknown>,
          private: (m.private as boolean | undefined) ?? false,
        });
      }
      record(202);
      return answer(202);
    },
  });
  const url = `http://127.0.0.1:${server.port}`;

  /** Resolves when `condition()` holds, checked after every request (rejects after `timeoutMs`). */
  function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`fake realtime: condition not met within ${timeoutMs} ms (${messages.length} messages)`));
      }, timeoutMs);
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
    });
  }

  return { url, serviceRoleKey, settings, requests, messages, waitUntil, stop: () => server.stop(true) };
}

export type FakeRealtime = ReturnType<typeof startFakeRealtime>;
