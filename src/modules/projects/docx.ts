/**
 * The story in a Word document: mammoth turns it into HTML, whose paragraphs become lines and
 * whose headings (Word's "Heading 1…6" styles) become markdown heading lines, so that chapters
 * titled by style alone ("雨夜", "The Storm") survive as chapters.
 */
import { unzipSync, zipSync } from "fflate";
import mammoth from "mammoth";
import { AppError } from "../../core/errors.ts";

/** Most a document's text parts may unpack to: a small .docx claiming gigabytes is a zip bomb. */
const MAX_UNPACKED_BYTES = 64 * 1024 * 1024;

const notWord = (why: string) =>
  new AppError("UNSUPPORTED_MEDIA_TYPE", `the .docx file is not a Word document (${why})`);

/**
 * The archive's XML parts, unpacked by fflate into buffers of their declared sizes (so a part
 * that inflates past its declared size is cut, never grown) and packed again uncompressed, so
 * that mammoth's own unzip has nothing left to inflate. Images and embedded files stay out.
 */
function textParts(bytes: Uint8Array): Uint8Array {
  let total = 0;
  let parts: Record<string, Uint8Array>;
  try {
    parts = unzipSync(bytes, {
      // Checked before anything is unpacked: past the cap, no further part is.
      filter: (f) => {
        if (!/\.(xml|rels)$/i.test(f.name)) return false;
        total += f.originalSize;
        return total <= MAX_UNPACKED_BYTES;
      },
    });
  } catch {
    throw notWord("not a readable ZIP archive");
  }
  if (total > MAX_UNPACKED_BYTES) throw notWord(`its text unpacks to more than ${MAX_UNPACKED_BYTES} bytes`);
  return zipSync(parts, { level: 0 });
}

// Word notes and comments are not story text: the markers ("[1]") and the notes mammoth would append go.
interface DocElement {
  type: string;
  children?: DocElement[];
}
const withoutNotes = (e: DocElement): DocElement =>
  e.children ? { ...e, children: e.children.filter((c) => c.type !== "noteReference").map(withoutNotes) } : e;

const BLOCK = /^(?:p|h[1-6]|li|ul|ol|table|tr|td|th|dl|dt|dd)$/;
const ENTITIES: Record<string, string> = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"' };

/**
 * Lines from mammoth's HTML, which escapes `&`, `<`, `>` (and `"` in attributes) and nothing
 * else, so every `<` starts a tag. One line per paragraph, heading, list item or table cell,
 * trimmed, empty ones dropped; `<br />` is a line break inside it; `<h2>` becomes "## ".
 */
function htmlLines(html: string): string {
  const lines: string[] = [];
  let current = "";
  const flush = () => {
    const t = current.trim();
    if (t && !/^#+$/.test(t)) lines.push(t);
    current = "";
  };
  for (const piece of html.split(/(<[^>]*>)/)) {
    if (!piece.startsWith("<")) {
      current += piece.replace(/&(?:amp|lt|gt|quot);/g, (e) => ENTITIES[e]!);
      continue;
    }
    const [, closing, tag = ""] = /^<(\/?)([a-z0-9]+)/i.exec(piece) ?? [];
    if (tag === "br") current += "\n";
    else if (BLOCK.test(tag)) {
      flush();
      if (!closing && /^h[1-6]$/.test(tag)) current = `${"#".repeat(Number(tag[1]))} `;
    }
  }
  flush();
  return lines.join("\n");
}

/** The text of a .docx, its headings as markdown heading lines. */
export async function docxText(bytes: Uint8Array): Promise<string> {
  const packed = textParts(bytes);
  let html: string;
  try {
    ({ value: html } = await mammoth.convertToHtml(
      { buffer: Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength) },
      {
        // A style map embedded in an uploaded file is the uploader's, not ours.
        includeEmbeddedStyleMap: false,
        styleMap: ["p[style-name='Title'] => h1:fresh"],
        transformDocument: withoutNotes,
        // Pictures are not read: the story is the text.
        convertImage: mammoth.images.imgElement(async () => ({ src: "" })),
      },
    ));
  } catch {
    throw notWord("no main document part that reads as WordprocessingML");
  }
  return htmlLines(html);
}
