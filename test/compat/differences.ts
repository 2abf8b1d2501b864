/**
 * Where pgsearch deliberately writes something other than Elastic's connector. Each entry names
 * the fields it covers ("table.column" patterns of test/compat/fixture.sql) and the line of
 * docs/compatibility.md that states it; the golden test fails on any difference not listed here.
 */
export interface DeliberateDifference {
  /** Text that docs/compatibility.md must contain. */
  doc: string;
  /** "table.column"; `*` as a column means Elastic's sync fails on the whole table. */
  fields: RegExp;
}

export const DELIBERATE_DIFFERENCES: DeliberateDifference[] = [
  { fields: /^(all_types\.c_bytea|k_bytea\.k)$/, doc: "`bytea` values are base64" },
  { fields: /^bc_dates\.\*$/, doc: "BC dates and timestamps are indexed with ISO 8601 years" },
  { fields: /^t_interval\.\*$/, doc: "`interval` values are ISO 8601 durations" },
  { fields: /^t_range\.\*$/, doc: "ranges are Elasticsearch range objects" },
  { fields: /^t_composite\.\*$/, doc: "composite values are JSON objects" },
];

export interface Difference {
  text: string;
  reason: string | undefined;
}

export function differenceOf(table: string, column: string, golden: unknown, ours: unknown): Difference {
  const where = `${table}.${column}`;
  const match = DELIBERATE_DIFFERENCES.find((d) => d.fields.test(where));
  return {
    text: `${where}: elastic ${JSON.stringify(golden)} / pgsearch ${JSON.stringify(ours)}`,
    reason: match?.doc,
  };
}
