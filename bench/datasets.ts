/**
 * Deterministic benchmark and functional-test data, generated inside PostgreSQL (generate_series
 * and hashing, no client round trips) so even 10M rows load in minutes.
 *
 * - small / medium / large: the reference's functional-test shapes (1×500, 3×3000, 5×7000 rows with
 *   ~130 KB text payloads; see ../shared/reference/elastic-connectors-python.md §5).
 * - narrow: 1M rows, ~10 scalar columns. wide: 200k rows, ~50 mixed columns. xl: 10M narrow rows.
 */
import type pg from "pg";

export type DatasetName = "small" | "medium" | "large" | "narrow" | "wide" | "xl" | "tiny" | "narrow200k";

export interface Dataset {
  name: DatasetName;
  schema: string;
  tables: { name: string; rows: number }[];
  /** Creates the schema and loads every table (drops what was there). */
  load(client: pg.Client): Promise<void>;
}

const PAYLOAD_KB = 130;

function referenceShape(name: DatasetName, tableCount: number, rows: number): Dataset {
  const schema = `bench_${name}`;
  const tables = Array.from({ length: tableCount }, (_, i) => ({ name: `customers_${i}`, rows }));
  return {
    name,
    schema,
    tables,
    async load(client) {
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`);
      for (const table of tables) {
        // ~130 KB of text per row, deterministic per id (md5 chains), like the reference's fixture.
        await client.query(`
          CREATE TABLE ${schema}.${table.name} (id integer PRIMARY KEY, name text, age integer, description text);
          INSERT INTO ${schema}.${table.name}
            SELECT g, 'customer ' || g, 18 + g % 60,
                   repeat(md5(g::text) || md5((g * 31)::text) || ' ', ${Math.round((PAYLOAD_KB * 1024) / 65)})
            FROM generate_series(1, ${rows}) g;
          ANALYZE ${schema}.${table.name};`);
      }
    },
  };
}

function narrow(name: DatasetName, rows: number): Dataset {
  const schema = `bench_${name}`;
  return {
    name,
    schema,
    tables: [{ name: "events", rows }],
    async load(client) {
      await client.query(`
        DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema};
        CREATE TABLE ${schema}.events (
          id bigint PRIMARY KEY, user_id integer, kind text, amount numeric(12, 2), score double precision,
          active boolean, created_at timestamptz, day date, code text, country char(2)
        );
        INSERT INTO ${schema}.events
          SELECT g, ((g * 7919) % 100000)::int, (ARRAY['view', 'click', 'buy', 'share'])[1 + g % 4], (g % 100000) / 100.0,
                 ((g * 2654435761) % 1000000) / 1000.0, g % 3 = 0,
                 timestamptz '2020-01-01 00:00:00+00' + g * interval '17 seconds', date '2020-01-01' + (g % 2000)::int,
                 substr(md5(g::text), 1, 12), (ARRAY['US', 'DE', 'FR', 'JP', 'BR', 'IN'])[1 + g % 6]
          FROM generate_series(1::bigint, ${rows}) g;
        ANALYZE ${schema}.events;`);
    },
  };
}

function wide(rows: number): Dataset {
  const schema = "bench_wide";
  const columns: string[] = [];
  const values: string[] = [];
  for (let i = 0; i < 12; i++) {
    columns.push(`t${i} text`);
    values.push(`substr(md5((g + ${i})::text), 1, ${8 + i * 2})`);
    columns.push(`n${i} numeric(14, 4)`);
    values.push(`((g * ${i + 3}) % 1000000) / 97.0`);
    columns.push(`ts${i} timestamptz`);
    values.push(`timestamptz '2021-01-01 00:00:00+00' + (g * ${i + 1}) * interval '1 minute'`);
  }
  for (let i = 0; i < 6; i++) {
    columns.push(`j${i} jsonb`);
    values.push(
      `jsonb_build_object('k', g % ${10 + i}, 'tag', 'tag' || (g % 7), 'nested', jsonb_build_object('x', ${i}))`,
    );
  }
  for (let i = 0; i < 6; i++) {
    columns.push(`a${i} integer[]`);
    values.push(`ARRAY[g % 10, g % 100, ${i}]`);
  }
  return {
    name: "wide",
    schema,
    tables: [{ name: "records", rows }],
    async load(client) {
      await client.query(`
        DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema};
        CREATE TABLE ${schema}.records (id integer PRIMARY KEY, ${columns.join(", ")});
        INSERT INTO ${schema}.records SELECT g, ${values.join(", ")} FROM generate_series(1, ${rows}) g;
        ANALYZE ${schema}.records;`);
    },
  };
}

export function dataset(name: string): Dataset {
  switch (name) {
    case "tiny":
      return narrow("tiny", 20_000);
    case "small":
      return referenceShape("small", 1, 500);
    case "medium":
      return referenceShape("medium", 3, 3000);
    case "large":
      return referenceShape("large", 5, 7000);
    case "narrow":
      return narrow("narrow", 1_000_000);
    case "narrow200k":
      return narrow("narrow200k", 200_000);
    case "wide":
      return wide(200_000);
    case "xl":
      return narrow("xl", 10_000_000);
    default:
      throw new Error(`unknown dataset "${name}" (tiny, small, medium, large, narrow, narrow200k, wide, xl)`);
  }
}
