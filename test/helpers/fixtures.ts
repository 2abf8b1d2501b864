import type pg from "pg";

/** The reference's example tables (connector docs, "Advanced sync rules" example data). */
export async function createReferenceTables(client: pg.Client, schema: string): Promise<void> {
  await client.query(`
    CREATE SCHEMA "${schema}";
    CREATE TABLE "${schema}".employee (emp_id integer PRIMARY KEY, name text NOT NULL, age integer);
    CREATE TABLE "${schema}".customer (c_id integer PRIMARY KEY, name text NOT NULL, age integer);
    INSERT INTO "${schema}".employee VALUES (3, 'John', 28), (10, 'Jane', 35), (14, 'Alex', 22);
    INSERT INTO "${schema}".customer VALUES (2, 'Elm', 24), (6, 'Pine', 30), (9, 'Oak', 34);
  `);
}

export async function dropSchema(client: pg.Client, schema: string): Promise<void> {
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}
