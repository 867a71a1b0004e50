import { AppError, tooLarge } from "../core/errors.ts";

export { tooLarge };

/**
 * Reads a request body, refusing to buffer more than `limit` bytes even without Content-Length;
 * no body reads as empty.
 */
export async function readLimited(request: Request, limit: number): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array();
  const reader = request.body.getReader();
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
    throw new AppError("VALIDATION_ERROR", "request body is not valid UTF-8", {
      fields: [{ path: "/", message: "not UTF-8" }],
    });
  }
}

/** The JSON pointer of the first string (or key) holding U+0000, which PostgreSQL cannot store. */
function nulPath(value: unknown, path: string): string | null {
  if (typeof value === "string") return value.includes("\u0000") ? path : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = nulPath(value[i], `${path}/${i}`);
      if (p !== null) return p;
    }
    return null;
  }
  if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (k.includes("\u0000")) return `${path}/${k.replaceAll("\u0000", "")}`;
      const p = nulPath(v, `${path}/${k}`);
      if (p !== null) return p;
    }
  }
  return null;
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
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new AppError("VALIDATION_ERROR", "request body is not valid JSON", {
        fields: [{ path: "/", message: (err as Error).message }],
      });
    }
    const nul = nulPath(value, "");
    if (nul !== null)
      throw new AppError("VALIDATION_ERROR", "text may not contain NUL characters", {
        fields: [{ path: nul || "/", message: "contains a NUL (U+0000) character" }],
      });
    return value;
  }
  if (type === "application/x-www-form-urlencoded") return Object.fromEntries(new URLSearchParams(utf8(bytes)));
  if (type === "multipart/form-data") {
    // The boundary is a parameter of the header, which the parse hook's contentType may have lost.
    const header = request.headers.get("content-type") ?? contentType!;
    return formToObject(
      await new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { "content-type": header } }).formData(),
    );
  }
  if (type.startsWith("text/")) return utf8(bytes);
  return bytes;
}
