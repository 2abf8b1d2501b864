/**
 * The fixed pieces of the Python-regex translation (python-regex.ts): what Python's escapes,
 * categories and word boundaries mean, written as JavaScript RegExp source.
 */

/** Python's str.isspace() characters: what `\s` means in a Python str pattern. */
export const PY_SPACE =
  "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/** A pattern Python's `re` would reject, or one this translation does not support. */
export class PythonRegexError extends Error {}

const UNI_WORD = "\\p{L}\\p{N}_";

export interface Flags {
  i: boolean;
  m: boolean;
  s: boolean;
  x: boolean;
  a: boolean;
}

/** JavaScript source for the constructs whose meaning depends on the (?a) flag. */
export interface Classes {
  categories: Record<string, string>;
  boundary: string;
  nonBoundary: string;
}

/** Escapes that stand for one fixed code point, in and out of classes. */
export const SIMPLE_ESCAPES: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 };

/** Zero-width escapes outside classes. \b and \B depend on the flags (see classesFor). */
export const ANCHOR_ESCAPES: Record<string, string> = { A: "(?<![\\s\\S])", Z: "(?![\\s\\S])" };

export const GROUP_NAME = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*$/u;

export function classesFor(flags: Flags): Classes {
  const word = flags.a ? "a-zA-Z0-9_" : UNI_WORD;
  const space = flags.a ? "\\t\\n\\v\\f\\r " : PY_SPACE;
  const digit = flags.a ? "0-9" : "\\p{Nd}";
  return {
    categories: {
      d: `[${digit}]`,
      D: `[^${digit}]`,
      w: `[${word}]`,
      W: `[^${word}]`,
      s: `[${space}]`,
      S: `[^${space}]`,
    },
    boundary: `(?:(?<=[${word}])(?![${word}])|(?<![${word}])(?=[${word}]))`,
    // Python's \B never matches in an empty string.
    nonBoundary:
      `(?:(?<=[\\s\\S])|(?=[\\s\\S]))` + `(?:(?<=[${word}])(?=[${word}])|(?<![${word}])(?![${word}]))`,
  };
}

/** A code point as a RegExp literal (escaped unless it is an ASCII letter or digit). */
export function literal(cp: number): string {
  const ch = String.fromCodePoint(cp);
  return /^[A-Za-z0-9]$/.test(ch) ? ch : `\\u{${cp.toString(16)}}`;
}
