import { type TSchema, t } from "elysia";
import type { ErrorCode } from "../core/errors.ts";
import { MAX_PAGE } from "../core/page.ts";

/** The success envelope of every answer. */
export function ok<T>(data: T, message = "ok") {
  return { success: true as const, data, message };
}

export function failure(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
  return { success: false as const, data: null, message, error: { code, details } };
}

/** Schema of a success envelope around `data`, for response validation and OpenAPI. */
export const Envelope = <S extends TSchema>(data: S) =>
  t.Object({ success: t.Literal(true), data, message: t.String() });

export const ErrorEnvelope = t.Object(
  {
    success: t.Literal(false),
    data: t.Null(),
    message: t.String(),
    error: t.Object({ code: t.String(), details: t.Record(t.String(), t.Unknown()) }),
  },
  {
    examples: [
      {
        success: false,
        data: null,
        message: "request validation failed",
        error: { code: "VALIDATION_ERROR", details: { fields: [{ path: "/email", message: "Expected string" }] } },
      },
    ],
  },
);

/** The failure answers an authenticated route may give, for its `response` map (OpenAPI). */
export const ErrorResponses = {
  400: ErrorEnvelope,
  401: ErrorEnvelope,
  403: ErrorEnvelope,
  404: ErrorEnvelope,
  409: ErrorEnvelope,
  429: ErrorEnvelope,
};

export const PageQuery = t.Object({
  page: t.Optional(t.Integer({ minimum: 1, maximum: MAX_PAGE, default: 1 })),
  page_size: t.Optional(t.Integer({ minimum: 1, maximum: 100, default: 20 })),
});

export const PageOf = <S extends TSchema>(item: S) =>
  t.Object({
    items: t.Array(item),
    total: t.Integer(),
    page: t.Integer(),
    page_size: t.Integer(),
    total_pages: t.Integer(),
  });
