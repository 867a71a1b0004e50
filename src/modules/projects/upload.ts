import { inflateRawSync } from "node:zlib";
import { AppError } from "../../core/errors.ts";

export const UPLOAD_MAX_BYTES = 10 * 1024 * 1024;

const unsupported = (message: string) => new AppError("UNSUPPORTED_MEDIA_TYPE", message);

/** One file out of a ZIP archive (a .docx), found through the central directory. */
function unzipEntry(zip: Uint8Array, name: string): Uint8Array | null {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 65_557); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return null;
  const count = view.getUint16(eocd + 10, true);
  let at = view.getUint32(eocd + 16, true);
  const decoder = new TextDecoder();
  for (let n = 0; n < count && at + 46 <= zip.length; n++) {
    if (view.getUint32(at, true) !== 0x02014b50) return null;
    const method = view.getUint16(at + 10, true);
    const compressed = view.getUint32(at + 20, true);
    const nameLength = view.getUint16(at + 28, true);
    const extra = view.getUint16(at + 30, true);
    const comment = view.getUint16(at + 32, true);
    const local = view.getUint32(at + 42, true);
    if (decoder.decode(zip.subarray(at + 46, at + 46 + nameLength)) === name) {
      if (local + 30 > zip.length) return null;
      const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
      const data = zip.subarray(start, start + compressed);
      if (method === 0) return data;
      if (method === 8) return new Uint8Array(inflateRawSync(data, { maxOutputLength: 64 * 1024 * 1024 }));
      return null;
    }
    at += 46 + nameLength + extra + comment;
  }
  return null;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
const decodeXml = (s: string) =>
  s.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (m, e: string) =>
    e[0] === "#"
      ? String.fromCodePoint(e[1] === "x" || e[1] === "X" ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1)))
      : (ENTITIES[e] ?? m),
  );

/** The paragraphs of a Word document's body, as plain text. */
function docxText(bytes: Uint8Array): string {
  let entry: Uint8Array | null;
  try {
    entry = unzipEntry(bytes, "word/document.xml");
  } catch {
    entry = null;
  }
  if (!entry) throw unsupported("the .docx file is not a Word document (no word/document.xml inside)");
  const xml = new TextDecoder().decode(entry);
  return xml
    .split(/<\/w:p>/)
    .map((p) =>
      p
        .replace(/<w:tab\/>/g, "\t")
        .replace(/<w:br\/>/g, "\n")
        .replace(/<w:t(?:\s[^>]*)?>([^<]*)<\/w:t>|<[^>]+>/g, (_m, t: string | undefined) =>
          t === undefined ? "" : decodeXml(t),
        ),
    )
    .map((p) => p.trim())
    .filter(Boolean)
    .join("\n");
}

/** UTF-8 text that really is text: decodes strictly, has no NULs and almost no control characters. */
function plainText(bytes: Uint8Array): string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw unsupported("the file is not UTF-8 text");
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: counting control characters is the point
  const controls = (text.match(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g) ?? []).length;
  if (text.includes("\u0000") || controls > text.length / 100)
    throw unsupported("the file holds binary data, not text");
  return text.replace(/^\uFEFF/, "");
}

/**
 * The story in an uploaded .txt, .md or .docx file. The type is decided by the bytes, not the
 * name: a ZIP renamed .txt or a binary renamed .md is refused (415), as is any other extension.
 */
export async function storyFromUpload(file: File): Promise<{ text: string; kind: "txt" | "md" | "docx" }> {
  if (file.size > UPLOAD_MAX_BYTES)
    throw new AppError("PAYLOAD_TOO_LARGE", `the file is larger than ${UPLOAD_MAX_BYTES} bytes`, {
      limit_bytes: UPLOAD_MAX_BYTES,
    });
  const ext = (file.name.split(".").pop() ?? "").toLowerCase();
  if (!["txt", "md", "docx"].includes(ext)) throw unsupported("upload a .txt, .md or .docx file");
  const bytes = new Uint8Array(await file.arrayBuffer());
  const zip = bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
  if (ext === "docx") {
    if (!zip) throw unsupported("the .docx file is not a Word document");
    return { text: docxText(bytes), kind: "docx" };
  }
  if (zip) throw unsupported(`the .${ext} file is an archive, not text`);
  return { text: plainText(bytes), kind: ext as "txt" | "md" };
}
