/** Connection settings of the stack (`eval "$(scripts/stack.sh env)"`), for bench commands. */
export function env(name: string): string {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set: eval "$(scripts/stack.sh env)" first`);
  return value;
}

export function pgConnection(): {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
} {
  return {
    host: env("PGHOST"),
    port: Number(env("PGPORT")),
    user: env("PGUSER"),
    password: env("PGPASSWORD"),
    database: env("PGDATABASE"),
  };
}

/** The source configuration for one schema of the stack's database. */
export function sourceValues(schema: string): Record<string, unknown> {
  const c = pgConnection();
  return { host: c.host, port: c.port, username: c.user, password: c.password, database: c.database, schema };
}
