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

/** Python's str.isspace() characters: what `\s` means in a Python str pattern. */
const PY_SPACE =
  "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
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

// ------------------------------------------------------------------------------------------------
// Python regular expressions
// ------------------------------------------------------------------------------------------------

/** A pattern Python's `re` would reject, or one this translation does not support. */
export class PythonRegexError extends Error {}

const UNI_WORD = "\\p{L}\\p{N}_";

interface Flags {
  i: boolean;
  m: boolean;
  s: boolean;
  x: boolean;
  a: boolean;
}

/**
 * Translates a Python `re` pattern into an equivalent JavaScript RegExp (flags `v`, sticky `y`)
 * and returns a function with `re.match(pattern, text) is not None` semantics: the match must
 * start at the beginning of the text but need not reach its end.
 *
 * Translated: Unicode `\d \w \s \b` as Python defines them for str patterns, `.` (no newline),
 * `^ $ \A \Z` (Python's `$` also matches before a final newline), `(?P<name>...)`,
 * `(?P=name)`, `{,n}`, literal `{` where it is no quantifier, octal/`\x`/`\u`/`\U` escapes,
 * leading global flags `(?aimsux)` including verbose mode, `(?#comments)`.
 * Rejected with PythonRegexError, as Python rejects them: bad escapes (`\e`), bad ranges, open or
 * unknown group references, unbalanced parentheses, nothing/multiple repeat.
 * Not supported (rejected): scoped flags `(?i:...)`, conditionals `(?(1)...)`, atomic groups,
 * possessive quantifiers (Python 3.11+), `\N{...}`, `(?a)` with `(?i)`.
 * Known gaps: Python rejects variable-width lookbehind, JavaScript accepts it; a backreference to
 * a group that did not take part in the match fails in Python and matches "" in JavaScript.
 */
export function compilePythonRegex(pattern: string): (text: string) => boolean {
  const source = translate(pattern);
  let regexp: RegExp;
  try {
    regexp = new RegExp(source.pattern, `vy${source.flags.i ? "i" : ""}`);
  } catch (error) {
    throw new PythonRegexError(
      (error as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /, ""),
    );
  }
  return (text: string) => {
    regexp.lastIndex = 0;
    return regexp.test(text);
  };
}

type Last = "none" | "atom" | "assert" | "quantifier";

function translate(pattern: string): { pattern: string; flags: Flags } {
  const cps = Array.from(pattern);
  let pos = 0;
  const flags: Flags = { i: false, m: false, s: false, x: false, a: false };
  const fail = (message: string): never => {
    throw new PythonRegexError(`${message} at position ${pos}`);
  };
  const peek = (k = 0): string | undefined => cps[pos + k];

  // Leading global flags: (?i), (?ms), ... (Python 3.11 allows them only at the start).
  for (;;) {
    if (cps[pos] === "(" && cps[pos + 1] === "?" && cps[pos + 2] === "#") {
      const close = cps.indexOf(")", pos);
      if (close < 0) fail("missing ), unterminated comment");
      pos = close + 1;
      continue;
    }
    const m = /^\(\?([aiLmsux]+)\)/.exec(cps.slice(pos, pos + 12).join(""));
    if (m === null) break;
    for (const f of m[1] ?? "") {
      if (f === "L") fail("bad inline flags: cannot use 'L' flag with a str pattern");
      if (f === "i" || f === "m" || f === "s" || f === "x" || f === "a") flags[f] = true;
    }
    pos += m[0].length;
  }

  // JavaScript cannot restrict case folding to ASCII ("K" would match the Kelvin sign).
  if (flags.a && flags.i) fail("the flags (?a) and (?i) together are not supported");
  const word = flags.a ? "a-zA-Z0-9_" : UNI_WORD;
  const space = flags.a ? "\\t\\n\\v\\f\\r " : PY_SPACE;
  const digit = flags.a ? "0-9" : "\\p{Nd}";
  const categories: Record<string, string> = {
    d: `[${digit}]`,
    D: `[^${digit}]`,
    w: `[${word}]`,
    W: `[^${word}]`,
    s: `[${space}]`,
    S: `[^${space}]`,
  };
  const boundary = `(?:(?<=[${word}])(?![${word}])|(?<![${word}])(?=[${word}]))`;
  // Python's \B never matches in an empty string.
  const nonBoundary =
    `(?:(?<=[\\s\\S])|(?=[\\s\\S]))` + `(?:(?<=[${word}])(?=[${word}])|(?<![${word}])(?![${word}]))`;

  let out = "";
  let last: Last = "none";
  let groups = 0; // capturing groups opened so far
  const open: { number: number | undefined; lookaround: boolean }[] = [];
  const names = new Set<string>();

  const literal = (cp: number): string => {
    const ch = String.fromCodePoint(cp);
    return /^[A-Za-z0-9]$/.test(ch) ? ch : `\\u{${cp.toString(16)}}`;
  };
  const hex = (count: number, what: string): number => {
    const digits = cps.slice(pos, pos + count).join("");
    if (digits.length !== count || !/^[0-9a-fA-F]+$/.test(digits))
      fail(`incomplete escape \\${what}${digits}`);
    pos += count;
    return parseInt(digits, 16);
  };
  const octal = (first: string, max: number): number => {
    let digits = first;
    while (digits.length < max && /^[0-7]$/.test(peek() ?? "")) digits += cps[pos++] ?? "";
    const value = parseInt(digits, 8);
    if (value > 0o377) fail(`octal escape value \\${digits} outside of range 0-0o377`);
    return value;
  };
  /** An escape usable in and out of classes: a code point, or undefined if not a literal escape. */
  const literalEscape = (c: string): number | undefined => {
    switch (c) {
      case "a":
        return 7;
      case "f":
        return 12;
      case "n":
        return 10;
      case "r":
        return 13;
      case "t":
        return 9;
      case "v":
        return 11;
      case "x":
        return hex(2, "x");
      case "u":
        return hex(4, "u");
      case "U": {
        const cp = hex(8, "U");
        if (cp > 0x10ffff) fail(`bad escape \\U${cp.toString(16)}`);
        return cp;
      }
      case "N":
        return fail("named Unicode escapes (\\N{...}) are not supported");
      default:
        return undefined;
    }
  };
  const skipVerbose = (): void => {
    if (!flags.x) return;
    for (;;) {
      const c = peek();
      if (c !== undefined && " \t\n\r\v\f".includes(c)) pos++;
      else if (c === "#") {
        while (pos < cps.length && cps[pos] !== "\n") pos++;
      } else return;
    }
  };

  const readClass = (): string => {
    // pos is just after "["
    let negate = false;
    if (peek() === "^") {
      negate = true;
      pos++;
    }
    let body = "";
    let first = true;
    for (;;) {
      const c = cps[pos] ?? fail("unterminated character set");
      if (c === "]" && !first) {
        pos++;
        break;
      }
      first = false;
      pos++;
      // One item: a code point or a category.
      let lo: number | undefined;
      let category: string | undefined;
      if (c === "\\") {
        const e2 = cps[pos++] ?? fail("bad escape (end of pattern)");
        const lit = literalEscape(e2);
        if (lit !== undefined) lo = lit;
        else if (e2 === "b") lo = 8;
        else if (e2 in categories) category = e2;
        else if (/^[0-7]$/.test(e2)) lo = octal(e2, 3);
        else if (/^[A-Za-z0-9]$/.test(e2)) fail(`bad escape \\${e2}`);
        else lo = e2.codePointAt(0);
      } else {
        lo = c.codePointAt(0);
      }
      if (category !== undefined) {
        if (peek() === "-" && peek(1) !== "]" && peek(1) !== undefined)
          fail(`bad character range \\${category}-`);
        body += categories[category] ?? "";
        continue;
      }
      const from = lo ?? 0;
      if (peek() === "-" && peek(1) !== "]" && peek(1) !== undefined) {
        pos++;
        const h = cps[pos++] ?? "";
        let to: number | undefined;
        if (h === "\\") {
          const e = cps[pos++] ?? "";
          const lit = literalEscape(e);
          if (lit !== undefined) to = lit;
          else if (e === "b") to = 8;
          else if (/^[0-7]$/.test(e)) to = octal(e, 3);
          else if (/^[A-Za-z0-9]$/.test(e) || e === "")
            fail(`bad character range ${String.fromCodePoint(from)}-\\${e}`);
          else to = e.codePointAt(0);
        } else {
          to = h.codePointAt(0);
        }
        const end = to ?? 0;
        if (end < from) fail("bad character range");
        body += `${literal(from)}-${literal(end)}`;
      } else {
        body += literal(from);
      }
    }
    return `[${negate ? "^" : ""}${body}]`;
  };

  /** Tries to read a Python {m,n} quantifier at pos (just after "{"); undefined: "{" is a literal. */
  const readBraces = (): string | undefined => {
    const start = pos;
    if (peek() === "}") return undefined;
    let lo = "";
    let hi = "";
    while (/^[0-9]$/.test(peek() ?? "")) lo += cps[pos++] ?? "";
    let comma = false;
    if (peek() === ",") {
      comma = true;
      pos++;
      while (/^[0-9]$/.test(peek() ?? "")) hi += cps[pos++] ?? "";
    } else hi = lo;
    if (peek() !== "}") {
      pos = start;
      return undefined;
    }
    pos++;
    const min = lo === "" ? 0 : Number(lo);
    if (hi !== "" && Number(hi) < min) fail("min repeat greater than max repeat");
    if (!comma) return `{${min}}`;
    return hi === "" ? `{${min},}` : `{${min},${hi}}`;
  };

  const quantify = (q: string): void => {
    if (last === "quantifier") fail("multiple repeat");
    if (last === "assert") fail("nothing to repeat");
    if (last !== "atom") fail("nothing to repeat");
    let suffix = "";
    if (peek() === "?") {
      suffix = "?";
      pos++;
    } else if (peek() === "+") {
      fail("possessive quantifiers are not supported");
    }
    out += q + suffix;
    last = "quantifier";
  };

  while (pos < cps.length) {
    skipVerbose();
    if (pos >= cps.length) break;
    const c = cps[pos++] ?? "";
    switch (c) {
      case "\\": {
        const e2 = cps[pos++] ?? fail("bad escape (end of pattern)");
        const lit = literalEscape(e2);
        if (lit !== undefined) {
          out += literal(lit);
          last = "atom";
        } else if (e2 in categories) {
          out += categories[e2] ?? "";
          last = "atom";
        } else if (e2 === "A") {
          out += "(?<![\\s\\S])";
          last = "assert";
        } else if (e2 === "Z") {
          out += "(?![\\s\\S])";
          last = "assert";
        } else if (e2 === "b") {
          out += boundary;
          last = "assert";
        } else if (e2 === "B") {
          out += nonBoundary;
          last = "assert";
        } else if (e2 === "0") {
          out += literal(octal("0", 3));
          last = "atom";
        } else if (/^[1-9]$/.test(e2)) {
          // Python: three octal digits make an octal escape, otherwise a group reference.
          let digits = e2;
          if (/^[0-9]$/.test(peek() ?? "")) {
            digits += cps[pos++] ?? "";
            if (/^[0-7]{2}$/.test(digits) && /^[0-7]$/.test(peek() ?? "")) {
              digits += cps[pos++] ?? "";
              const value = parseInt(digits, 8);
              if (value > 0o377) fail(`octal escape value \\${digits} outside of range 0-0o377`);
              out += literal(value);
              last = "atom";
              break;
            }
          }
          const group = Number(digits);
          if (group > groups) fail(`invalid group reference ${group}`);
          if (open.some((g) => g.number === group)) fail("cannot refer to an open group");
          out += `(?:\\${group})`;
          last = "atom";
        } else if (/^[A-Za-z0-9]$/.test(e2)) {
          fail(`bad escape \\${e2}`);
        } else {
          out += literal(e2.codePointAt(0) ?? 0);
          last = "atom";
        }
        break;
      }
      case "[":
        out += readClass();
        last = "atom";
        break;
      case ".":
        out += flags.s ? "[\\s\\S]" : "[^\\n]";
        last = "atom";
        break;
      case "^":
        out += flags.m ? "(?<![^\\n])" : "(?<![\\s\\S])";
        last = "assert";
        break;
      case "$":
        out += flags.m ? "(?=\\n|(?![\\s\\S]))" : "(?=\\n?(?![\\s\\S]))";
        last = "assert";
        break;
      case "|":
        out += "|";
        last = "none";
        break;
      case "*":
      case "+":
      case "?":
        quantify(c);
        break;
      case "{": {
        const q = readBraces();
        if (q === undefined) {
          out += literal(0x7b);
          last = "atom";
        } else quantify(q);
        break;
      }
      case "(": {
        if (peek() !== "?") {
          groups++;
          open.push({ number: groups, lookaround: false });
          out += "(";
          last = "none";
          break;
        }
        pos++;
        const rest = cps.slice(pos, pos + 3).join("");
        if (rest.startsWith("#")) {
          const close = cps.indexOf(")", pos);
          if (close < 0) fail("missing ), unterminated comment");
          pos = close + 1;
          break; // a comment changes nothing, not even what a quantifier applies to
        }
        if (rest.startsWith(":")) {
          pos++;
          open.push({ number: undefined, lookaround: false });
          out += "(?:";
        } else if (rest.startsWith("=") || rest.startsWith("!")) {
          // Wrapped in (?:...) because Python lets a lookaround be quantified and JavaScript
          // does not (a quantified zero-width group means the same in both).
          pos++;
          open.push({ number: undefined, lookaround: true });
          out += `(?:(?${rest[0] ?? ""}`;
        } else if (rest.startsWith("<=") || rest.startsWith("<!")) {
          pos += 2;
          open.push({ number: undefined, lookaround: true });
          out += `(?:(?${rest.slice(0, 2)}`;
        } else if (rest.startsWith("P<")) {
          pos += 2;
          const close = cps.indexOf(">", pos);
          if (close < 0) fail("missing >, unterminated name");
          const name = cps.slice(pos, close).join("");
          if (!/^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*$/u.test(name))
            fail(`bad character in group name '${name}'`);
          if (names.has(name)) fail(`redefinition of group name '${name}'`);
          names.add(name);
          pos = close + 1;
          groups++;
          open.push({ number: groups, lookaround: false });
          out += `(?<${name}>`;
        } else if (rest.startsWith("P=")) {
          pos += 2;
          const close = cps.indexOf(")", pos);
          if (close < 0) fail("missing ), unterminated name");
          const name = cps.slice(pos, close).join("");
          if (!names.has(name)) fail(`unknown group name '${name}'`);
          pos = close + 1;
          out += `\\k<${name}>`;
          last = "atom";
          break;
        } else if (/^[aiLmsux-]/.test(rest)) {
          const m = /^[aiLmsux]*(-[imsx]*)?([:)])/.exec(cps.slice(pos, pos + 12).join(""));
          if (m?.[2] === ")") fail("global flags not at the start of the expression");
          fail("scoped inline flags (?flags:...) are not supported");
        } else if (rest.startsWith("(")) {
          fail("conditional groups (?(...)...) are not supported");
        } else if (rest.startsWith(">")) {
          fail("atomic groups (?>...) are not supported");
        } else {
          fail(`unknown extension ?${rest.slice(0, 1)}`);
        }
        last = "none";
        break;
      }
      case ")": {
        const group = open.pop();
        if (group === undefined) fail("unbalanced parenthesis");
        out += group?.lookaround === true ? "))" : ")";
        last = "atom";
        break;
      }
      default:
        out += literal(c.codePointAt(0) ?? 0);
        last = "atom";
    }
  }
  if (open.length > 0) fail("missing ), unterminated subpattern");
  return { pattern: out, flags };
}
