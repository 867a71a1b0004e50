/** The last page a list may be asked for: beyond it the row offset would overflow Postgres' bigint. */
export const MAX_PAGE = 1_000_000;

/** One page of a list, as every list answer carries it (`page` counts from 1). */
export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  page_size: number;
  total_pages: number;
}

export function page<T>(items: T[], total: number, pageNo: number, pageSize: number): Page<T> {
  return { items, total, page: pageNo, page_size: pageSize, total_pages: Math.ceil(total / pageSize) };
}
