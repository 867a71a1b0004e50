import { Elysia, t } from "elysia";
import { AppError, forbidden, notFound } from "../../core/errors.ts";
import type { Deps } from "../../deps.ts";
import { checkLink } from "../../storage/signing.ts";
import { InvalidStorageKey, StorageNotFound } from "../../storage/types.ts";
import { parseRange } from "./range.ts";

/** RFC 6266 attachment header with an ASCII fallback and the UTF-8 name. */
function attachment(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/**
 * Signed, expiring links to files of the local storage driver: no bearer token, a tampered or
 * expired link is 403, and `Range` is honoured (206) so video players can seek.
 */
export function filesModule(deps: Deps, secret: string) {
  const { storage } = deps;
  const serve = async (request: Request, path: string, query: Record<string, string | undefined>, head: boolean) => {
    let key: string;
    try {
      key = decodeURIComponent(path);
    } catch {
      throw forbidden("invalid link");
    }
    const verdict = checkLink(secret, key, query.expires ?? null, query.sig ?? null, query.download ?? "");
    if (verdict === "expired") throw forbidden("this link has expired");
    if (verdict !== "ok") throw forbidden("invalid link");
    try {
      const stat = await storage.stat(key);
      if (!stat) throw notFound("file");
      const range = parseRange(request.headers.get("range"), stat.size);
      if (range === "unsatisfiable") {
        throw new AppError(
          "RANGE_NOT_SATISFIABLE",
          "the requested range is outside the file",
          { size: stat.size },
          {
            "content-range": `bytes */${stat.size}`,
          },
        );
      }
      const headers: Record<string, string> = {
        "content-type": stat.contentType,
        "accept-ranges": "bytes",
        "cache-control": "private, max-age=300",
        etag: `"${stat.sha256}"`,
        "content-length": String(range ? range.end - range.start + 1 : stat.size),
      };
      if (range) headers["content-range"] = `bytes ${range.start}-${range.end}/${stat.size}`;
      if (query.download) headers["content-disposition"] = attachment(query.download);
      const status = range ? 206 : 200;
      if (head) return new Response(null, { status, headers });
      const { stream } = await storage.stream(key, range ?? undefined);
      return new Response(stream, { status, headers });
    } catch (err) {
      if (err instanceof StorageNotFound || err instanceof InvalidStorageKey) throw notFound("file");
      throw err;
    }
  };
  const query = t.Object({
    expires: t.Optional(t.String({ maxLength: 16 })),
    sig: t.Optional(t.String({ maxLength: 128 })),
    download: t.Optional(t.String({ maxLength: 255 })),
  });
  const detail = {
    tags: ["files"],
    summary: "Download through a signed, expiring link (Range supported)",
    description: "Links come from the API (e.g. export files). Tampered or expired: 403. No bearer token needed.",
  };
  return new Elysia({ name: "inkreel.files" })
    .get("/files/*", ({ request, params, query }) => serve(request, params["*"], query, false), { query, detail })
    .head("/files/*", ({ request, params, query }) => serve(request, params["*"], query, true), {
      query,
      detail: { ...detail, hide: true },
    });
}
