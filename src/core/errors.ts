/** Error codes of the API envelope and the HTTP status each one answers with. */
export const ERROR_STATUS = {
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  QUOTA_EXCEEDED: 402,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNPROCESSABLE: 422,
  RANGE_NOT_SATISFIABLE: 416,
  RATE_LIMITED: 429,
  INTERNAL_ERROR: 500,
  AI_SERVICE_ERROR: 502,
  AUTH_SERVICE_ERROR: 502,
  STORAGE_ERROR: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface FieldError {
  path: string;
  message: string;
}

/** The one error type services throw; the HTTP layer turns it into the failure envelope. */
export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "AppError";
    this.status = ERROR_STATUS[code];
  }
}

export const notFound = (what = "resource") => new AppError("NOT_FOUND", `${what} not found`);
export const forbidden = (message = "you are not allowed to do this") => new AppError("FORBIDDEN", message);
export const unauthorized = (message = "authentication required") => new AppError("UNAUTHORIZED", message);
export const conflict = (message: string, details: Record<string, unknown> = {}) =>
  new AppError("CONFLICT", message, details);
export const unsupported = (message: string) => new AppError("UNSUPPORTED_MEDIA_TYPE", message);
/** Over a size limit (413, the limit in details); `what` names what was too big. */
export const tooLarge = (limit: number, what = "request body") =>
  new AppError("PAYLOAD_TOO_LARGE", `${what} is larger than ${limit} bytes`, { limit_bytes: limit });
export const validation = (fields: FieldError[], message = "request validation failed") =>
  new AppError("VALIDATION_ERROR", message, { fields });
