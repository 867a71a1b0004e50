import { AppError } from "./errors.ts";

export const tooLarge = (limit: number) =>
  new AppError("PAYLOAD_TOO_LARGE", `request body is larger than ${limit} bytes`, { limit_bytes: limit });

/** Reads a request body, refusing to buffer more than `limit` bytes even without Content-Length. */
async function readLimited(request: Request, limit: number): Promise<Uint8Array> {
  const reader = request.body!.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

function utf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new AppError("VALIDATION_ERROR", "request body is not valid UTF-8", { fields: [{ path: "/", message: "not UTF-8" }] });
  }
}

function formToObject(form: FormData): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of new Set(form.keys())) {
    const values = form.getAll(key);
    out[key] = values.length === 1 ? values[0] : values;
  }
  return out;
}

/**
 * The one body parser of the API: every content type is read within `limit` (413 beyond it),
 * and malformed JSON is a VALIDATION_ERROR naming the problem. Returns undefined for no body.
 */
export async function parseBody(request: Request, contentType: string | undefined, limit: number): Promise<unknown> {
  if (!request.body) return undefined;
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  const bytes = await readLimited(request, limit);
  if (type === "application/json" || type.endsWith("+json")) {
    const text = utf8(bytes);
    if (text.trim() === "") return undefined;
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new AppError("VALIDATION_ERROR", "request body is not valid JSON", {
        fields: [{ path: "/", message: (err as Error).message }],
      });
    }
  }
  if (type === "application/x-www-form-urlencoded") return Object.fromEntries(new URLSearchParams(utf8(bytes)));
  if (type === "multipart/form-data") {
    // The boundary is a parameter of the header, which the parse hook's contentType may have lost.
    const header = request.headers.get("content-type") ?? contentType!;
    return formToObject(await new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { "content-type": header } }).formData());
  }
  if (type.startsWith("text/")) return utf8(bytes);
  return bytes;
}
