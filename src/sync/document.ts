import { createHash } from "node:crypto";
import type { PostgresConfig } from "../config/postgres-config.js";
import type { SourceStream } from "../source/plan.js";
import type { SourceRow } from "../source/reader.js";
import { pythonKeyText } from "./compat-id.js";

/** Elasticsearch rejects ids over 512 bytes; longer ones are replaced by a hash, as the reference does. */
export const MAX_ID_BYTES = 512;

/** Field holding pgsearch's bookkeeping in every document it writes (mapped in sink/search-index). */
export { META_FIELD } from "../sink/search-index.js";
import { META_FIELD } from "../sink/search-index.js";

/** A row turned into what the sink sends. */
export interface BuiltDocument {
  id: string;
  /**
   * The complete JSON source, ready for an NDJSON line. No content hash is stored: the
   * unchanged-row check compares the text after `_timestamp` (bodyOf) with the stored document;
   * a hash would cost a fifth of a narrow index (docs/benchmarks.md).
   */
  source: string;
  bytes: number;
}

/** What every compat id of a stream starts with: `{db}_{schema}_{sorted tables joined by _}_`. */
export function compatIdPrefix(database: string, stream: Pick<SourceStream, "schema" | "tables">): string {
  return `${database}_${stream.schema}_${[...stream.tables].sort().join("_")}_`;
}

/**
 * Builds documents for one stream. Compat mode reproduces Elastic's connector exactly: id
 * `{db}_{schema}_{tables}_{key values}` and fields `{schema}_{tables}_{column}` (the field names
 * are already in the row's JSON, rendered by PostgreSQL); clean mode uses plain column names and
 * an unambiguous id.
 */
export class DocumentBuilder {
  private readonly prefix: string;
  private readonly compat: boolean;
  private readonly sourceName: string;

  constructor(
    private readonly stream: SourceStream,
    config: Pick<PostgresConfig, "database" | "documentMode">,
    /** Used as `_timestamp` when the row's commit time is unknown (ISO string, JSON-quoted). */
    private readonly fallbackTimestamp: string,
  ) {
    this.compat = config.documentMode === "compat";
    this.sourceName = JSON.stringify(stream.id);
    const tableValue =
      stream.kind === "table" ? JSON.stringify(stream.tables[0]) : JSON.stringify(stream.tables);
    // Constant part of every document of this stream, spliced in front of the row's fields.
    this.prefix = this.compat
      ? `"database":${JSON.stringify(config.database)},"table":${tableValue},"schema":${JSON.stringify(stream.schema)},`
      : "";
    this.idPrefix = this.compat ? compatIdPrefix(config.database, stream) : `${stream.id}:`;
    this.keyTypeNames = stream.keyIndexes.map((i) => {
      const column = stream.columns[i];
      return column === undefined || column.isArray ? "text" : column.typeName;
    });
  }
  private readonly idPrefix: string;
  /** Per key column: the type whose Python str() the compat id reproduces. */
  private readonly keyTypeNames: string[];

  id(key: (string | null)[]): string {
    const raw = this.compat ? this.idPrefix + this.compatKeyText(key) : this.idPrefix + JSON.stringify(key);
    if (Buffer.byteLength(raw) <= MAX_ID_BYTES) return raw;
    return createHash("md5").update(raw).digest("hex");
  }

  private compatKeyText(key: (string | null)[]): string {
    const parts: string[] = [];
    key.forEach((part, i) => {
      if (part !== null) parts.push(pythonKeyText(this.keyTypeNames[i] ?? "text", part));
    });
    return parts.join("_");
  }

  build(row: SourceRow): BuiltDocument {
    const id = this.id(row.key);
    const fields = row.doc.length > 2 ? `${row.doc.slice(1, -1)},` : "";
    const parts = row.parts === undefined ? "" : `,"parts":${JSON.stringify(row.parts)}`;
    const meta = `"${META_FIELD}":{"source":${this.sourceName},"key":${JSON.stringify(JSON.stringify(row.key))}${parts}}`;
    const source =
      `{"_timestamp":${row.committedAt ?? this.fallbackTimestamp},${this.prefix}` +
      (this.compat ? `"id":${JSON.stringify(id)},` : "") +
      fields +
      meta +
      "}";
    return { id, source, bytes: Buffer.byteLength(source) };
  }
}
