/**
 * The key tables of docs/configuration.md, generated from the schema so the docs cannot drift:
 * `pgsearch config docs docs/configuration.md` rewrites every block between
 * `<!-- keys:NAME -->` and `<!-- /keys -->`; test/config checks the committed file is current.
 */
import { z } from "zod";
import { appConfigSchema, serviceConfigSchema } from "./schema.js";

interface JsonSchemaNode {
  type?: string | string[];
  default?: unknown;
  description?: string;
  properties?: Record<string, JsonSchemaNode>;
}

const input = (schema: z.ZodType): JsonSchemaNode =>
  z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchemaNode;

/** The tables by name: the section of a file whose keys they list. */
function tables(): Record<string, JsonSchemaNode | undefined> {
  const app = input(appConfigSchema).properties ?? {};
  const service = input(serviceConfigSchema).properties ?? {};
  return {
    elasticsearch: app.elasticsearch,
    sync: app.sync,
    "service-elasticsearch": service.elasticsearch,
    service: service.service,
    pgsearch: service.pgsearch,
  };
}

function cell(value: unknown): string {
  if (value === undefined) return "";
  if (typeof value === "string") return value === "" ? '""' : value;
  return JSON.stringify(value).replaceAll("|", "\\|");
}

/** A Markdown table aligned the way prettier formats it. */
function markdownTable(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(3, ...rows.map((r) => (r[i] ?? "").length))) ?? [];
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  const [head, ...body] = rows;
  return [line(head ?? []), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...body.map(line)].join(
    "\n",
  );
}

export function keyTable(name: string): string {
  const section = tables()[name];
  if (section === undefined) throw new Error(`no key table named ${name}`);
  const rows = [["key", "default", "meaning"]];
  for (const [key, node] of Object.entries(section.properties ?? {})) {
    const meaning = node.description ?? (node.properties === undefined ? "" : "a section: see below");
    rows.push([`\`${key}\``, node.properties === undefined ? cell(node.default) : "", meaning]);
  }
  return markdownTable(rows);
}

/** Rewrites every generated block of a Markdown text; the text is unchanged when current. */
export function rewriteKeyTables(markdown: string): string {
  return markdown.replace(
    /(<!-- keys:([a-z-]+) -->)[\s\S]*?(<!-- \/keys -->)/g,
    (_, open: string, name: string, close: string) => `${open}\n\n${keyTable(name)}\n\n${close}`,
  );
}
