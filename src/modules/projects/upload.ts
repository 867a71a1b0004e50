import { tooLarge, unsupported } from "../../core/errors.ts";
import { sniff } from "../../media/sniff.ts";
import { docxText } from "./docx.ts";

export const UPLOAD_MAX_BYTES = 10 * 1024 * 1024;

/** What file-type calls a Word file: a bare ZIP too, since a minimal .docx has no content-types part to name it. */
const WORD_CONTAINERS = new Set(["zip", "docx", "docm", "dotx", "dotm"]);

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
  if (file.size > UPLOAD_MAX_BYTES) throw tooLarge(UPLOAD_MAX_BYTES, "the file");
  const ext = (file.name.split(".").pop() ?? "").toLowerCase();
  if (!["txt", "md", "docx"].includes(ext)) throw unsupported("upload a .txt, .md or .docx file");
  const bytes = new Uint8Array(await file.arrayBuffer());
  const type = await sniff(bytes);
  if (ext === "docx") {
    if (!type || !WORD_CONTAINERS.has(type.ext))
      throw unsupported(
        `the .docx file is not a Word document (${type ? `it is ${type.ext} data` : "not a ZIP archive"})`,
      );
    return { text: await docxText(bytes), kind: "docx" };
  }
  // Text is decided by decoding it (file-type also names text formats: "solid " opens an STL model).
  try {
    return { text: plainText(bytes), kind: ext as "txt" | "md" };
  } catch (e) {
    if (type) throw unsupported(`the .${ext} file is ${type.mime} data, not text`);
    throw e;
  }
}
