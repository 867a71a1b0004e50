/**
 * The plans of the SQL the feed route runs, for bench:square.
 *
 * Capture: auto_explain (bundled with the embedded PostgreSQL) is preloaded into the sessions of
 * an API process started for the purpose (ALTER DATABASE … SET session_preload_libraries), with
 * log_analyze, log_buffers, JSON format and the parameters, so the server logs every statement
 * the route sends with the plan it actually ran (named prepared statements included: the API
 * prepares each query text once per connection, and after five executions Postgres may switch to
 * the generic plan). The log arrives on the server's stderr, which the embedded server hands to
 * its start-up logger; `AutoExplainLog` collects it and `captured()` parses the JSON plans out
 * of it.
 *
 * Check: each captured SELECT on the square's tables is then EXPLAINed again here, `EXPLAIN
 * (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE` of the same text (PREPAREd) with the same parameters,
 * once with the custom plan (the values known) and once with the generic one (what a prepared
 * statement may settle on).
 */
import type pg from "pg";

export interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  "Actual Total Time"?: number;
  "Actual Rows"?: number;
  "Actual Loops"?: number;
  "Plan Rows"?: number;
  "Shared Hit Blocks"?: number;
  "Shared Read Blocks"?: number;
  "Sort Method"?: string;
  Filter?: string;
  "Rows Removed by Filter"?: number;
  Plans?: PlanNode[];
  [key: string]: unknown;
}

export interface ExplainOutput {
  "Query Text"?: string;
  "Query Parameters"?: string;
  Plan: PlanNode;
  "Planning Time"?: number;
  "Execution Time"?: number;
  [key: string]: unknown;
}

/** The tables whose sequential scan the goal forbids. */
export const SQUARE_TABLES = ["works", "work_likes"];

/** Collects the embedded server's stderr; `mark()` and `since()` cut out what a probe produced. */
export class AutoExplainLog {
  private chunks: string[] = [];
  add(line: string) {
    this.chunks.push(line);
  }
  mark() {
    return this.chunks.length;
  }
  /** Plans logged since `mark`, in order. Chunks arrive trimmed, so they are joined by a newline. */
  since(mark: number): ExplainOutput[] {
    // On stderr each line of a multi-line message after the first starts with a tab.
    const text = this.chunks.slice(mark).join("\n").replaceAll("\n\t", "\n");
    const out: ExplainOutput[] = [];
    const start = /\{\s*"Query Text"/g;
    for (let m = start.exec(text); m; m = start.exec(text)) {
      const end = matchingBrace(text, m.index);
      if (end < 0) break;
      try {
        out.push(JSON.parse(text.slice(m.index, end + 1)) as ExplainOutput);
      } catch {
        // A message split inside a string by the pipe: skipped (each feed is probed several times).
      }
      start.lastIndex = end + 1;
    }
    return out;
  }
}

/** The index of the `}` closing the `{` at `open`, skipping strings; -1 if it is not there. */
function matchingBrace(text: string, open: number): number {
  let depth = 0;
  let inString = false;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return i;
  }
  return -1;
}

/** Settings that make every statement of a new session log its analysed plan. */
export function autoExplainOn(database: string): string[] {
  const db = `"${database.replaceAll('"', '""')}"`;
  return [
    `alter database ${db} set session_preload_libraries = 'auto_explain'`,
    `alter database ${db} set auto_explain.log_min_duration = 0`,
    `alter database ${db} set auto_explain.log_analyze = on`,
    `alter database ${db} set auto_explain.log_buffers = on`,
    `alter database ${db} set auto_explain.log_timing = on`,
    `alter database ${db} set auto_explain.log_format = 'json'`,
    `alter database ${db} set auto_explain.log_parameter_max_length = -1`,
  ];
}

export function autoExplainOff(database: string): string[] {
  return [`alter database "${database.replaceAll('"', '""')}" reset all`];
}

/** `$1 = 'image', $2 = '20'` (auto_explain's form) as EXECUTE arguments, in order. */
export function parameterLiterals(parameters: string | undefined): string[] {
  if (!parameters) return [];
  const out: string[] = [];
  for (const m of parameters.matchAll(/\$(\d+) = (NULL|'(?:[^']|'')*')/g)) out[Number(m[1]) - 1] = m[2]!;
  return Array.from(out, (v) => v ?? "NULL");
}

function walk(node: PlanNode, visit: (n: PlanNode, depth: number) => void, depth = 0) {
  visit(node, depth);
  for (const child of node.Plans ?? []) walk(child, visit, depth + 1);
}

const label = (n: PlanNode) =>
  `${n["Node Type"]}${n["Index Name"] ? ` using ${n["Index Name"]}` : ""}${n["Relation Name"] ? ` on ${n["Relation Name"]}` : ""}`;

/** Time spent in a node itself: its total over its loops minus its children's. */
function ownMs(n: PlanNode): number {
  const total = (x: PlanNode) => (x["Actual Total Time"] ?? 0) * (x["Actual Loops"] ?? 1);
  return total(n) - (n.Plans ?? []).reduce((s, c) => s + total(c), 0);
}

export interface PlanSummary {
  execution_ms: number | null;
  planning_ms: number | null;
  /** Seq Scan nodes on works or work_likes. */
  seq_scan: boolean;
  /** Every Seq Scan node (any table), as "Seq Scan on t". */
  seq_scans: string[];
  /** The tree, one line per node, indented by depth, with actual rows × loops and time. */
  nodes: string[];
  /** The node that spent the most time itself. */
  slowest_node: { node: string; own_ms: number; rows: number; loops: number } | null;
  shared_blocks: { hit: number; read: number };
}

export function summarise(plan: ExplainOutput): PlanSummary {
  const nodes: string[] = [];
  const seqScans: string[] = [];
  let slowest: PlanSummary["slowest_node"] = null;
  walk(plan.Plan, (n, depth) => {
    const loops = n["Actual Loops"] ?? 1;
    const rows = n["Actual Rows"] ?? 0;
    const time = n["Actual Total Time"];
    const extra = [
      `rows=${rows}${loops > 1 ? `×${loops}` : ""}`,
      time !== undefined ? `${time.toFixed(3)} ms` : null,
      n["Sort Method"] ? `sort ${n["Sort Method"]}` : null,
      n["Rows Removed by Filter"] ? `filtered ${n["Rows Removed by Filter"]}` : null,
    ].filter(Boolean);
    nodes.push(`${"  ".repeat(depth)}${label(n)} (${extra.join(", ")})`);
    if (n["Node Type"] === "Seq Scan") seqScans.push(label(n));
    const own = ownMs(n);
    if (!slowest || own > slowest.own_ms) slowest = { node: label(n), own_ms: Number(own.toFixed(3)), rows, loops };
  });
  return {
    // auto_explain logs no Execution Time: the top node's time is the closest figure.
    execution_ms: plan["Execution Time"] ?? plan.Plan["Actual Total Time"] ?? null,
    planning_ms: plan["Planning Time"] ?? null,
    seq_scan: seqScans.some((s) => SQUARE_TABLES.some((t) => s.endsWith(` on ${t}`))),
    seq_scans: seqScans,
    nodes,
    slowest_node: slowest,
    shared_blocks: { hit: plan.Plan["Shared Hit Blocks"] ?? 0, read: plan.Plan["Shared Read Blocks"] ?? 0 },
  };
}

/** Whether a captured statement is a read of the square's tables (the ones to EXPLAIN again). */
export function readsSquare(text: string): boolean {
  const t = text.trim().toLowerCase();
  const read = t.startsWith("select") || (t.startsWith("with") && !/\b(insert|update|delete)\b/.test(t));
  return read && /\b(works|work_likes|work_favorites)\b/.test(t);
}

/** EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) of `text` with `params`, with the custom or the generic plan. */
export async function explain(
  client: pg.Client,
  text: string,
  params: string[],
  mode: "force_custom_plan" | "force_generic_plan",
): Promise<ExplainOutput> {
  await client.query("deallocate all");
  await client.query(`prepare bench_square_q as ${text}`);
  await client.query(`set plan_cache_mode = ${mode}`);
  try {
    const args = params.length ? `(${params.join(", ")})` : "";
    const { rows } = await client.query<{ "QUERY PLAN": ExplainOutput[] }>(
      `explain (analyze, buffers, format json) execute bench_square_q${args}`,
    );
    return rows[0]!["QUERY PLAN"][0]!;
  } finally {
    await client.query("reset plan_cache_mode");
    await client.query("deallocate bench_square_q");
  }
}
