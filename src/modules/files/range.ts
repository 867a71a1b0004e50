import type { ByteRange } from "../../storage/types.ts";

/**
 * Parses a single-range `Range` header against an object of `size` bytes. Returns null for no
 * header (the whole object), "unsatisfiable" for a range outside the object or a syntax we do not
 * serve (several ranges), else the inclusive byte range.
 */
export function parseRange(header: string | null, size: number): ByteRange | null | "unsatisfiable" {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return "unsatisfiable";
  if (size === 0) return "unsatisfiable";
  if (match[1] === "") {
    // Suffix: the last N bytes.
    const n = Number(match[2]);
    if (n === 0) return "unsatisfiable";
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}
