import type { PostgresConfig } from "../config/postgres-config.js";
import type { Logger } from "../observability/logger.js";
import type { BasicRuleEngine } from "../rules/basic.js";
import type { SourceStream } from "../source/plan.js";
import type { SourceRow } from "../source/reader.js";
import { type BuiltDocument, DocumentBuilder } from "./document.js";

export interface RowLimits {
  /** Documents larger than this are not sent (sync.max_document_bytes / source max_document_bytes). */
  maxDocumentBytes: number;
}

/**
 * What one row becomes, decided in one place for the full sync, the delete pass, the follower and
 * its re-reads (docs/operations.md, "Guarantees"):
 * - `index`: the document is written;
 * - `exclude`: the basic rules exclude the row, so its document must not be in the index (the full
 *   sync leaves it to the delete pass, the follower deletes it at once);
 * - `oversize`: the document is over the size limit: it is not sent, reported, and an existing
 *   document of that row is kept as it was (never deleted because the row grew).
 */
export type RowDecision =
  | { action: "index"; doc: BuiltDocument }
  | { action: "exclude"; doc: BuiltDocument }
  | { action: "oversize"; doc: BuiltDocument };

export function decide(
  row: SourceRow,
  builder: DocumentBuilder,
  stream: SourceStream,
  rules: BasicRuleEngine,
  limits: RowLimits,
): RowDecision {
  const doc = builder.build(row);
  if (doc.bytes > limits.maxDocumentBytes) return { action: "oversize", doc };
  // Rows the SQL filter let through still meet the rules it could not translate.
  if (canExclude(stream, rules) && !rules.shouldIndex(JSON.parse(doc.source) as Record<string, unknown>)) {
    return { action: "exclude", doc };
  }
  return { action: "index", doc };
}

function canExclude(stream: SourceStream, rules: BasicRuleEngine): boolean {
  return stream.filter?.exact !== true && !rules.isMatchAll;
}

/** One stream's builder, rules and limits together, so callers only pass rows. */
export class RowDecider {
  readonly builder: DocumentBuilder;
  constructor(
    readonly stream: SourceStream,
    config: Pick<PostgresConfig, "database" | "documentMode" | "maxDocumentBytes">,
    private readonly rules: BasicRuleEngine,
    fallbackTimestamp: string = JSON.stringify(new Date().toISOString()),
  ) {
    this.builder = new DocumentBuilder(stream, config, fallbackTimestamp);
    this.limits = { maxDocumentBytes: config.maxDocumentBytes };
  }
  private readonly limits: RowLimits;

  /**
   * Whether a row's content can exclude it: only basic rules the SQL filter could not express do.
   * When not, the delete pass needs to know which keys exist, not what their rows hold.
   */
  get contentCanExclude(): boolean {
    return canExclude(this.stream, this.rules);
  }

  decide(row: SourceRow): RowDecision {
    return decide(row, this.builder, this.stream, this.rules, this.limits);
  }

  id(key: (string | null)[]): string {
    return this.builder.id(key);
  }
}

/** The `_pgsearch.key` doc value (JSON text of the key parts); undefined when unreadable. */
export function parseKey(value: unknown): (string | null)[] | undefined {
  if (typeof value !== "string") return undefined;
  try {
    const key = JSON.parse(value) as unknown;
    return Array.isArray(key) ? (key as (string | null)[]) : undefined;
  } catch {
    return undefined;
  }
}

/** Logs a document over the size limit the same way everywhere (the row's key, its size, the limit). */
export function reportOversize(
  logger: Logger,
  stream: string,
  key: (string | null)[],
  doc: BuiltDocument,
  maxBytes: number,
): void {
  logger.warn(
    { table: stream, key, document_id: doc.id, bytes: doc.bytes },
    `document of ${stream} with key ${JSON.stringify(key)} is ${doc.bytes} bytes, over the ${maxBytes}-byte limit: not sent (an existing document of the row is kept)`,
  );
}
