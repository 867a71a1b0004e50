import { join } from "node:path";
import { Elysia, t } from "elysia";
import type { Deps } from "../../deps.ts";
import { authGuard } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok } from "../../http/envelope.ts";
import { discard, receiveFile } from "../../http/multipart.ts";
import * as uploads from "./service.ts";

const security = [{ bearer: [] }];
const uuid = t.String({ format: "uuid" });

const Upload = t.Object({
  id: uuid,
  space_id: uuid,
  project_id: t.Union([uuid, t.Null()]),
  type: t.Union([t.Literal("image"), t.Literal("video"), t.Literal("audio")]),
  mime_type: t.String(),
  file_name: t.Union([t.String(), t.Null()]),
  size: t.Integer(),
  width: t.Union([t.Integer(), t.Null()]),
  height: t.Union([t.Integer(), t.Null()]),
  duration_s: t.Union([t.Number(), t.Null()]),
  url: t.String({ description: "Signed, expiring link to the file" }),
  thumbnail_url: t.Union([t.String(), t.Null()], { description: "A 320-pixel-wide JPEG, for pictures and videos" }),
  expires_at: t.String({ format: "date-time" }),
  created_at: t.String({ format: "date-time" }),
});

const UploadConfig = t.Object({
  max_file_bytes: t.Integer(),
  max_in_flight_per_user: t.Integer(),
  accepted: t.Object({ image: t.Array(t.String()), video: t.Array(t.String()), audio: t.Array(t.String()) }),
  extensions: t.Record(t.String(), t.Array(t.String()), { description: "The file names each type may have" }),
});

/** Uploads (seed 000, 004): pictures, videos and recordings streamed into storage as assets. */
export function uploadsModule(deps: Deps) {
  const { db, storage, config } = deps;
  return new Elysia({ prefix: "/api/v1/uploads", tags: ["uploads"] })
    .use(authGuard(deps))
    .get("/config", () => ok(uploads.uploadConfig(config)), {
      auth: true,
      response: { 200: Envelope(UploadConfig), ...ErrorResponses },
      detail: { summary: "Upload limits and the accepted types", security },
    })
    .post(
      "",
      async ({ request, caller, set }) => {
        const slot = await uploads.takeUploadSlot(db, { userId: caller.user.id, limit: config.uploads.perUser });
        try {
          const file = await receiveFile(request, {
            dir: join(config.dataDir, "tmp", "uploads"),
            maxBytes: config.uploads.maxBytes,
          });
          try {
            const projectId = file.fields.project_id ?? null;
            if (projectId !== null && !/^[0-9a-f-]{36}$/i.test(projectId)) throw uploads.badProjectId();
            const asset = await uploads.storeUpload(
              deps,
              { userId: caller.user.id, spaceId: caller.user.current_space_id, projectId },
              file,
            );
            set.status = 201;
            return ok(await uploads.uploadView(storage, asset));
          } finally {
            await discard(file.path);
          }
        } finally {
          await uploads.releaseUploadSlot(db, slot);
        }
      },
      {
        auth: true,
        response: { 201: Envelope(Upload), ...ErrorResponses },
        detail: {
          summary: "Upload a picture (PNG, JPEG, WebP), video (MP4, MOV, WebM) or recording (WAV, MP3, M4A, OGG)",
          description:
            "multipart/form-data with a `file` part and, optionally, a `project_id` field (the file then belongs to that project; else to your current space). The format is sniffed from the bytes: a file whose name says another format is 415. Over UPLOAD_MAX_BYTES is 413; more than UPLOADS_PER_USER uploads at once is 429 with Retry-After. The file streams to disk as it arrives; an upload cut off half-way leaves nothing behind.",
          requestBody: {
            required: true,
            content: {
              "multipart/form-data": {
                schema: {
                  type: "object",
                  required: ["file"],
                  properties: {
                    file: { type: "string", format: "binary" },
                    project_id: { type: "string", format: "uuid" },
                  },
                },
              },
            },
          },
          security,
        },
      },
    );
}
