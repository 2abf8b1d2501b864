/**
 * The few pieces of Python behaviour that Elastic's basic sync rules depend on, reproduced so a
 * rule means the same here as in Elastic's connector service:
 *
 * - `str(value)`: what `contains`/`starts_with`/`ends_with`/`regex` look at;
 * - `float(text)`: how a rule value is coerced when the document value is a number;
 * - `str < str`: code-point order (JavaScript's `<` compares UTF-16 code units, which differs for
 *   characters outside the Basic Multilingual Plane);
 * - `re.match(pattern, text)`: Python's regular-expression dialect, translated to a JavaScript
 *   RegExp (see compilePythonRegex).
 */

import { PY_SPACE } from "./python-regex-syntax.js";

export { compilePythonRegex, PythonRegexError } from "./python-regex.js";

/** Python's `str(x)` for the values a JSON document can hold (plus Date). null is `None`. */
export function pyStr(value: unknown): string {
  if (typeof value === "string") return value;
  return pyRepr(value);
}

/** Python's `repr(x)` for JSON values; strings get Python's quoting (used inside lists and dicts). */
function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number") return pyNumber(value);
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "string") return pyStringRepr(value);
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(", ")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    return `{${entries.map(([k, v]) => `${pyStringRepr(k)}: ${pyRepr(v)}`).join(", ")}}`;
  }
  return ""; // functions and symbols never come out of JSON
}

/**
 * A JSON number as Python prints it. JSON does not say whether 100 was an int or a float; an
 * integral value below 2^53 prints as an int ("100"), anything else as Python's float repr
 * ("0.5", "1e+16", "1e-05", "inf", "nan").
 */
function pyNumber(n: number): string {
  if (Number.isNaN(n)) return "nan";
  if (n === Infinity) return "inf";
  if (n === -Infinity) return "-inf";
  if (Object.is(n, -0)) return "-0.0";
  if (Number.isInteger(n) && Math.abs(n) < 2 ** 53) return String(n);
  // Shortest round-trip digits (the same digits Python's repr picks), then Python's layout:
  // fixed notation for exponents -4..15, otherwise d.ddde±XX with at least two exponent digits.
  const [mantissa = "0", exp = "0"] = n.toExponential().split("e");
  const negative = mantissa.startsWith("-");
  const digits = mantissa.replace("-", "").replace(".", "");
  const e = Number(exp);
  let out: string;
  if (e >= -4 && e < 16) {
    if (e < 0) out = `0.${"0".repeat(-e - 1)}${digits}`;
    else if (digits.length <= e + 1) out = `${digits}${"0".repeat(e + 1 - digits.length)}.0`;
    else out = `${digits.slice(0, e + 1)}.${digits.slice(e + 1)}`;
  } else {
    const rest = digits.slice(1);
    const sign = e < 0 ? "-" : "+";
    out = `${digits[0] ?? "0"}${rest === "" ? "" : `.${rest}`}e${sign}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  return negative ? `-${out}` : out;
}

/** Python's repr of a str: single quotes unless the text has ' and no ", escapes for controls. */
function pyStringRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === quote || ch === "\\") out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) out += `\\x${cp.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return out + quote;
}

const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "gu");

const PY_FLOAT =
  /^[+-]?(?:(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?|inf|infinity|nan)$/i;

/**
 * Python's `float(text)`, or undefined where Python raises ValueError: surrounding whitespace is
 * allowed, underscores between digits are, "inf"/"infinity"/"nan" are; "0x10", "1,5" and "" are
 * not. (Python also accepts non-ASCII decimal digits such as "١٢"; those are not numbers here.)
 */
export function pyFloat(text: string): number | undefined {
  const t = text.replace(PY_STRIP, "");
  if (!PY_FLOAT.test(t)) return undefined;
  const lower = t.toLowerCase().replace(/_/g, "");
  const sign = lower.startsWith("-") ? -1 : 1;
  const body = lower.replace(/^[+-]/, "");
  if (body === "inf" || body === "infinity") return sign * Infinity;
  if (body === "nan") return NaN;
  return Number(lower);
}

/** Python's str comparison: by code point. Returns <0, 0 or >0. */
export function pyCompareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (U+D800..U+DFFF) stand for code points above U+FFFF: they sort after every
    // other UTF-16 unit in code-point order, though U+E000..U+FFFF are numerically larger.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}
