/**
 * The one loader for both configuration files (the sync YAML and the service's config.yml):
 * read (a path, or `-` for stdin), parse, interpolate `${VAR}` / `${VAR|default}` as EnvYAML does
 * (Elastic's service; `${VAR:-default}` too), nest dotted keys, validate against a zod schema from
 * schema.ts. Every problem becomes a ConfigError naming the file, the line and the key path.
 */
import { readFileSync } from "node:fs";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, parse, type Document, type Node } from "yaml";
import type { z } from "zod";
import { ConfigError, ConfigErrors } from "../errors.js";
import { closest } from "./postgres-config.js";

type Path = readonly (string | number)[];

/** Reads a configuration file; `-` reads standard input. */
export function readConfigText(path: string): string {
  try {
    return readFileSync(path === "-" ? 0 : path, "utf8");
  } catch (error) {
    throw new ConfigError(path, `cannot read the configuration file: ${(error as Error).message}`);
  }
}

/** The display name of a configuration source in messages. */
export const sourceNameOf = (path: string): string => (path === "-" ? "stdin" : path);

export class ConfigReader {
  readonly errors: ConfigError[] = [];
  /** The file's content after interpolation (and dotted-key nesting), before validation. */
  readonly raw: Record<string, unknown>;
  private readonly doc: Document;
  private readonly lines = new LineCounter();
  private readonly reported = new Set<string>();

  constructor(
    text: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly sourceName: string,
    options: { nestDottedKeys?: boolean } = {},
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false });
    const syntax = this.doc.errors[0];
    if (syntax !== undefined) {
      const line = syntax.linePos?.[0].line;
      throw new ConfigError(
        `${sourceName}${line === undefined ? "" : `:${line}`}`,
        `invalid YAML: ${syntax.message}`,
      );
    }
    this.interpolate(this.doc.contents, []);
    const root: unknown = this.doc.toJS() ?? {};
    if (root === null || typeof root !== "object" || Array.isArray(root))
      throw new ConfigError(sourceName, "the configuration must be a YAML mapping");
    this.raw = (options.nestDottedKeys === true ? nestDotted(root) : root) as Record<string, unknown>;
  }

  /** Records a problem at a key path, once per path (a missing variable is not also "empty"). */
  fail(path: Path, message: string): void {
    const dotted = path.join(".");
    if (this.reported.has(dotted)) return;
    this.reported.add(dotted);
    const node = this.doc.getIn(path, true) as Node | undefined;
    const offset = node?.range?.[0];
    const where =
      offset === undefined ? this.sourceName : `${this.sourceName}:${this.lines.linePos(offset).line}`;
    this.errors.push(new ConfigError(`${where} ${dotted}`, message));
  }

  /**
   * Validates `raw` against the schema; issues under `delegated` paths ("*" matches one or more
   * deeper keys) are left to the validator that owns them. Undefined when there were issues.
   */
  validate<S extends z.ZodType>(schema: S, delegated: readonly Path[] = []): z.output<S> | undefined {
    const result = schema.safeParse(this.raw);
    if (result.success) return result.data;
    for (const issue of result.error.issues) {
      if (issue.code === "unrecognized_keys") {
        for (const key of issue.keys) {
          const path = [...issue.path, key] as Path;
          if (isDelegated(path, delegated)) continue;
          const known = Object.keys(shapeAt(schema, issue.path as Path));
          this.fail(path, `unknown key${hint(key, known)}`);
        }
      } else if (!isDelegated(issue.path as Path, delegated)) {
        this.fail(issue.path as Path, issue.message);
      }
    }
    return undefined;
  }

  /** Throws every recorded problem at once. */
  throwIfErrors(): void {
    if (this.errors.length > 0) throw new ConfigErrors(this.errors);
  }

  private interpolate(node: unknown, path: (string | number)[]): void {
    if (isMap(node)) {
      for (const pair of node.items) {
        this.interpolate(pair.value, [...path, isScalar(pair.key) ? String(pair.key.value) : "?"]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        this.interpolate(item, [...path, i]);
      });
    } else if (isScalar(node) && typeof node.value === "string" && node.value.includes("${")) {
      const text = node.value.replace(
        /\$\{([A-Za-z_][A-Za-z0-9_.]*)(?:(?:\||:-)([^}]*))?\}/g,
        (_, name: string, fallback?: string) => {
          const value = this.env[name] ?? this.selfReference(name);
          if (value !== undefined && value !== "") return value;
          if (fallback !== undefined) return fallback;
          this.fail(path, `environment variable ${name} is not set`);
          return "";
        },
      );
      // EnvYAML substitutes before parsing: an unquoted `${PORT}` becomes a number.
      const typed: unknown = node.type === "PLAIN" ? parseScalar(text) : text;
      node.value = typeof typed === "number" || typeof typed === "boolean" ? typed : text;
    }
  }

  /** EnvYAML also resolves `${elasticsearch.password}` from the file itself. */
  private selfReference(name: string): string | undefined {
    if (!name.includes(".")) return undefined;
    const value: unknown = this.doc.getIn(name.split("."));
    return typeof value === "string" || typeof value === "number" ? String(value) : undefined;
  }
}

function isDelegated(path: Path, delegated: readonly Path[]): boolean {
  return delegated.some((prefix) => {
    const wildcard = prefix[prefix.length - 1] === "*";
    const fixed = wildcard ? prefix.slice(0, -1) : prefix;
    if (wildcard ? path.length <= fixed.length : path.length < fixed.length) return false;
    return fixed.every((part, i) => part === path[i]);
  });
}

/** The keys of the object schema at `path` (through defaults, optionals and arrays). */
export function shapeAt(schema: z.ZodType, path: Path): Record<string, z.ZodType> {
  let current: z.ZodType | undefined = unwrap(schema);
  for (const part of path) {
    const def = current?._zod.def as { type: string; shape?: Record<string, z.ZodType>; element?: z.ZodType };
    current = unwrap(typeof part === "number" ? def.element : def.shape?.[part]);
  }
  return (current?._zod.def as { shape?: Record<string, z.ZodType> } | undefined)?.shape ?? {};
}

/** Removes default/optional/nullable/prefault wrappers. */
export function unwrap(schema: z.ZodType | undefined): z.ZodType | undefined {
  let current = schema;
  for (;;) {
    const def = current?._zod.def as { innerType?: z.ZodType; in?: z.ZodType } | undefined;
    const inner = def?.innerType ?? def?.in;
    if (inner === undefined) return current;
    current = inner;
  }
}

function hint(key: string, candidates: string[]): string {
  const suggestion = closest(key, candidates);
  return suggestion === undefined
    ? ` (expected one of ${candidates.join(", ")})`
    : ` (did you mean "${suggestion}"?)`;
}

/** Nests dotted keys the way Elastic's loader does: `elasticsearch.bulk.chunk_size: 500`. */
export function nestDotted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(nestDotted);
  if (value === null || typeof value !== "object") return value;
  const result: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    const parts = key.split(".");
    let target = result;
    for (const part of parts.slice(0, -1)) {
      const next = target[part];
      if (next === null || typeof next !== "object") target[part] = {};
      target = target[part] as Record<string, unknown>;
    }
    const last = parts[parts.length - 1] ?? key;
    const nested = nestDotted(inner);
    const existing = target[last];
    target[last] =
      existing !== null && typeof existing === "object" && nested !== null && typeof nested === "object"
        ? { ...existing, ...nested }
        : nested;
  }
  return result;
}

function parseScalar(text: string): unknown {
  try {
    return parse(text);
  } catch {
    return text;
  }
}
