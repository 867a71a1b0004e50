/** Per-request facts shared by hooks that see only the Request (ids, timing, who asked). */
export interface RequestInfo {
  id: string;
  start: number;
  userId?: string;
}

const infos = new WeakMap<Request, RequestInfo>();
const VALID_ID = /^[\w.:-]{1,128}$/;

/** The request's info, created on first sight; a well-formed incoming X-Request-Id is kept. */
export function requestInfo(request: Request): RequestInfo {
  let info = infos.get(request);
  if (!info) {
    const incoming = request.headers.get("x-request-id");
    info = { id: incoming && VALID_ID.test(incoming) ? incoming : crypto.randomUUID(), start: performance.now() };
    infos.set(request, info);
  }
  return info;
}

export const requestInfoOf = (request: Request): RequestInfo | undefined => infos.get(request);
