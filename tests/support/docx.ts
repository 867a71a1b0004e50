/** Word documents for upload tests, zipped with fflate. */
import { zipSync } from "fflate";

const W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";
const R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
const xmlText = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const utf8 = (s: string) => new TextEncoder().encode(s);

/** A paragraph of the body: plain text, or a styled one ("Heading1", "Title"), or raw runs. */
export type Para = string | { style?: string; text?: string; runs?: string };

function paragraph(p: Para): string {
  const { style, text, runs } = typeof p === "string" ? { text: p } : p;
  const props = style ? `<w:pPr><w:pStyle w:val="${style}"/></w:pPr>` : "";
  return `<w:p>${props}${runs ?? `<w:r><w:t xml:space="preserve">${xmlText(text ?? "")}</w:t></w:r>`}</w:p>`;
}

const documentXml = (paras: Para[]) =>
  `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="${W}" xmlns:r="${R}"><w:body>${paras
    .map(paragraph)
    .join("")}</w:body></w:document>`;

/** A bare ZIP holding only word/document.xml, as the simplest writers make it. */
export function bareDocx(lines: string[]): Uint8Array<ArrayBuffer> {
  return zipSync({ "word/document.xml": utf8(documentXml(lines)) }) as Uint8Array<ArrayBuffer>;
}

const STYLES = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:styles xmlns:w="${W}">${[
  ["paragraph", "Normal", "Normal"],
  ["paragraph", "Title", "Title"],
  ["paragraph", "Heading1", "heading 1"],
  ["paragraph", "Heading2", "heading 2"],
  ["character", "FootnoteReference", "footnote reference"],
]
  .map(([type, id, name]) => `<w:style w:type="${type}" w:styleId="${id}"><w:name w:val="${name}"/></w:style>`)
  .join("")}</w:styles>`;

/**
 * A .docx as Word writes it: content types, package and document relationships, styles (with
 * Word's "heading 1" names) and footnotes; `footnote` is the text of footnote 1, which a run
 * `<w:footnoteReference w:id="1"/>` in `paras` refers to.
 */
export function wordDocx(paras: Para[], footnote = "A note."): Uint8Array<ArrayBuffer> {
  const types = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/><Override PartName="/word/footnotes.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"/></Types>`;
  const rels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="${R}/officeDocument" Target="word/document.xml"/></Relationships>`;
  const docRels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="${R}/styles" Target="styles.xml"/><Relationship Id="rId2" Type="${R}/footnotes" Target="footnotes.xml"/></Relationships>`;
  const footnotes = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:footnotes xmlns:w="${W}"><w:footnote w:id="1"><w:p><w:r><w:t>${xmlText(footnote)}</w:t></w:r></w:p></w:footnote></w:footnotes>`;
  return zipSync({
    "[Content_Types].xml": utf8(types),
    "_rels/.rels": utf8(rels),
    "word/document.xml": utf8(documentXml(paras)),
    "word/_rels/document.xml.rels": utf8(docRels),
    "word/styles.xml": utf8(STYLES),
    "word/footnotes.xml": utf8(footnotes),
  }) as Uint8Array<ArrayBuffer>;
}

/** The archive with the uncompressed size its central directory gives `name` replaced by `size`. */
export function withDeclaredSize(zip: Uint8Array, name: string, size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(zip);
  const view = new DataView(out.buffer);
  const decoder = new TextDecoder();
  for (let at = 0; at + 46 <= out.length; at++) {
    if (view.getUint32(at, true) !== 0x02014b50) continue;
    const length = view.getUint16(at + 28, true);
    if (decoder.decode(out.subarray(at + 46, at + 46 + length)) === name) {
      view.setUint32(at + 24, size, true);
      return out;
    }
  }
  throw new Error(`${name} is not in the archive`);
}
