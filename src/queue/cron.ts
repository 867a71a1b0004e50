/** A five-field cron expression (minute hour day-of-month month day-of-week), in UTC. */
export interface Cron {
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  anyDay: boolean;
  anyWeekday: boolean;
}

const FIELDS = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12 },
  { name: "day of week", min: 0, max: 7 },
] as const;

function parseField(text: string, { name, min, max }: (typeof FIELDS)[number]): Set<number> {
  const values = new Set<number>();
  for (const part of text.split(",")) {
    const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!match) throw new Error(`cron ${name}: cannot read "${part}"`);
    const [, all, a, b, s] = match;
    const start = all === "*" ? min : Number(a);
    const end = all === "*" ? max : b !== undefined ? Number(b) : s !== undefined ? max : start;
    const step = s !== undefined ? Number(s) : 1;
    if (start < min || end > max || start > end || step < 1)
      throw new Error(`cron ${name}: "${part}" is out of range ${min}-${max}`);
    for (let v = start; v <= end; v += step) values.add(name === "day of week" && v === 7 ? 0 : v);
  }
  return values;
}

export function parseCron(expression: string): Cron {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) throw new Error(`cron "${expression}" must have 5 fields`);
  const [m, h, dom, mon, dow] = parts.map((p, i) => parseField(p, FIELDS[i]!));
  // As in Vixie cron, a day field starting with "*" (also "*/2") counts as unrestricted.
  return {
    minutes: m!,
    hours: h!,
    days: dom!,
    months: mon!,
    weekdays: dow!,
    anyDay: parts[2]!.startsWith("*"),
    anyWeekday: parts[4]!.startsWith("*"),
  };
}

function dayMatches(c: Cron, d: Date): boolean {
  const dom = c.days.has(d.getUTCDate());
  const dow = c.weekdays.has(d.getUTCDay());
  // Classic cron: when both day fields are restricted, either may match.
  if (c.anyDay) return dow;
  if (c.anyWeekday) return dom;
  return dom || dow;
}

/** The first minute strictly after `after` that the expression matches. */
export function nextRun(cron: Cron, after: Date): Date {
  const t = new Date(after.getTime());
  t.setUTCSeconds(0, 0);
  t.setUTCMinutes(t.getUTCMinutes() + 1);
  // Four years of minutes bounds the search (Feb 29 schedules).
  for (let i = 0; i < 4 * 366 * 24 * 60; i++) {
    if (!cron.months.has(t.getUTCMonth() + 1) || !dayMatches(cron, t)) {
      t.setUTCDate(t.getUTCDate() + 1);
      t.setUTCHours(0, 0);
      continue;
    }
    if (!cron.hours.has(t.getUTCHours())) {
      t.setUTCHours(t.getUTCHours() + 1, 0);
      continue;
    }
    if (cron.minutes.has(t.getUTCMinutes())) return t;
    t.setUTCMinutes(t.getUTCMinutes() + 1);
  }
  throw new Error("cron expression never matches");
}
