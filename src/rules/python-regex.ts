/**
 * Python's `re` dialect translated to a JavaScript RegExp, so that a basic sync rule's `regex`
 * means the same here as in Elastic's connector service (which evaluates `re.match`).
 */

import {
  ANCHOR_ESCAPES,
  type Classes,
  classesFor,
  type Flags,
  GROUP_NAME,
  literal,
  PythonRegexError,
  SIMPLE_ESCAPES,
} from "./python-regex-syntax.js";

export { PythonRegexError } from "./python-regex-syntax.js";

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
  const source = new Translator(pattern).translate();
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

/** What the translated output ends with: decides whether a quantifier may follow. */
type Last = "none" | "atom" | "assert" | "quantifier";

/** One pass over a Python pattern; each method reads one construct starting at `pos`. */
class Translator {
  private readonly cps: string[];
  private pos = 0;
  private readonly flags: Flags = { i: false, m: false, s: false, x: false, a: false };
  private classes: Classes = classesFor(this.flags);
  private out = "";
  private last: Last = "none";
  private groups = 0; // capturing groups opened so far
  private readonly open: { number: number | undefined; lookaround: boolean }[] = [];
  private readonly names = new Set<string>();

  constructor(pattern: string) {
    this.cps = Array.from(pattern);
  }

  translate(): { pattern: string; flags: Flags } {
    this.readGlobalFlags();
    // JavaScript cannot restrict case folding to ASCII ("K" would match the Kelvin sign).
    if (this.flags.a && this.flags.i) this.fail("the flags (?a) and (?i) together are not supported");
    this.classes = classesFor(this.flags);
    while (this.pos < this.cps.length) {
      this.skipVerbose();
      if (this.pos >= this.cps.length) break;
      this.readItem(this.cps[this.pos++] ?? "");
    }
    if (this.open.length > 0) this.fail("missing ), unterminated subpattern");
    return { pattern: this.out, flags: this.flags };
  }

  private fail(message: string): never {
    throw new PythonRegexError(`${message} at position ${this.pos}`);
  }

  private peek(k = 0): string | undefined {
    return this.cps[this.pos + k];
  }

  private emit(text: string, last: Last): void {
    this.out += text;
    this.last = last;
  }

  /** Leading global flags: (?i), (?ms), ... (Python 3.11 allows them only at the start). */
  private readGlobalFlags(): void {
    for (;;) {
      if (this.peek() === "(" && this.peek(1) === "?" && this.peek(2) === "#") {
        this.skipComment();
        continue;
      }
      const m = /^\(\?([aiLmsux]+)\)/.exec(this.cps.slice(this.pos, this.pos + 12).join(""));
      if (m === null) return;
      for (const f of m[1] ?? "") {
        if (f === "L") this.fail("bad inline flags: cannot use 'L' flag with a str pattern");
        if (f === "i" || f === "m" || f === "s" || f === "x" || f === "a") this.flags[f] = true;
      }
      this.pos += m[0].length;
    }
  }

  /** Skips a (?#...) comment; pos is at its "(" or just after its "?". */
  private skipComment(): void {
    const close = this.cps.indexOf(")", this.pos);
    if (close < 0) this.fail("missing ), unterminated comment");
    this.pos = close + 1;
  }

  private skipVerbose(): void {
    if (!this.flags.x) return;
    for (;;) {
      const c = this.peek();
      if (c !== undefined && " \t\n\r\v\f".includes(c)) this.pos++;
      else if (c === "#") {
        while (this.pos < this.cps.length && this.cps[this.pos] !== "\n") this.pos++;
      } else return;
    }
  }

  /** One construct outside a class; c has been consumed. */
  private readItem(c: string): void {
    const { s, m } = this.flags;
    if (c === "\\") this.readEscape();
    else if (c === "[") this.emit(this.readClass(), "atom");
    else if (c === ".") this.emit(s ? "[\\s\\S]" : "[^\\n]", "atom");
    else if (c === "^") this.emit(m ? "(?<![^\\n])" : "(?<![\\s\\S])", "assert");
    else if (c === "$") this.emit(m ? "(?=\\n|(?![\\s\\S]))" : "(?=\\n?(?![\\s\\S]))", "assert");
    else if (c === "|") this.emit("|", "none");
    else if (c === "*" || c === "+" || c === "?") this.quantify(c);
    else if (c === "{") {
      const q = this.readBraces();
      if (q === undefined) this.emit(literal(0x7b), "atom");
      else this.quantify(q);
    } else if (c === "(") this.readGroup();
    else if (c === ")") this.closeGroup();
    else this.emit(literal(c.codePointAt(0) ?? 0), "atom");
  }

  // --- escapes -----------------------------------------------------------------------------------

  private hex(count: number, what: string): number {
    const digits = this.cps.slice(this.pos, this.pos + count).join("");
    if (digits.length !== count || !/^[0-9a-fA-F]+$/.test(digits))
      this.fail(`incomplete escape \\${what}${digits}`);
    this.pos += count;
    return parseInt(digits, 16);
  }

  private octal(first: string, max: number): number {
    let digits = first;
    while (digits.length < max && /^[0-7]$/.test(this.peek() ?? "")) digits += this.cps[this.pos++] ?? "";
    const value = parseInt(digits, 8);
    if (value > 0o377) this.fail(`octal escape value \\${digits} outside of range 0-0o377`);
    return value;
  }

  /** An escape usable in and out of classes: a code point, or undefined if not a literal escape. */
  private literalEscape(c: string): number | undefined {
    const simple = SIMPLE_ESCAPES[c];
    if (simple !== undefined) return simple;
    switch (c) {
      case "x":
        return this.hex(2, "x");
      case "u":
        return this.hex(4, "u");
      case "U": {
        const cp = this.hex(8, "U");
        if (cp > 0x10ffff) this.fail(`bad escape \\U${cp.toString(16)}`);
        return cp;
      }
      case "N":
        return this.fail("named Unicode escapes (\\N{...}) are not supported");
      default:
        return undefined;
    }
  }

  /** An escape outside a class; pos is just after the backslash. */
  private readEscape(): void {
    const e2 = this.cps[this.pos++] ?? this.fail("bad escape (end of pattern)");
    const lit = this.literalEscape(e2);
    const { categories, boundary, nonBoundary } = this.classes;
    if (lit !== undefined) this.emit(literal(lit), "atom");
    else if (e2 in categories) this.emit(categories[e2] ?? "", "atom");
    else if (e2 in ANCHOR_ESCAPES) this.emit(ANCHOR_ESCAPES[e2] ?? "", "assert");
    else if (e2 === "b") this.emit(boundary, "assert");
    else if (e2 === "B") this.emit(nonBoundary, "assert");
    else if (e2 === "0") this.emit(literal(this.octal("0", 3)), "atom");
    else if (/^[1-9]$/.test(e2)) this.readNumberEscape(e2);
    else if (/^[A-Za-z0-9]$/.test(e2)) this.fail(`bad escape \\${e2}`);
    else this.emit(literal(e2.codePointAt(0) ?? 0), "atom");
  }

  /** \1..\99 or a three-digit octal escape: Python reads three octal digits as octal. */
  private readNumberEscape(first: string): void {
    let digits = first;
    if (/^[0-9]$/.test(this.peek() ?? "")) {
      digits += this.cps[this.pos++] ?? "";
      if (/^[0-7]{2}$/.test(digits) && /^[0-7]$/.test(this.peek() ?? "")) {
        digits += this.cps[this.pos++] ?? "";
        const value = parseInt(digits, 8);
        if (value > 0o377) this.fail(`octal escape value \\${digits} outside of range 0-0o377`);
        this.emit(literal(value), "atom");
        return;
      }
    }
    const group = Number(digits);
    if (group > this.groups) this.fail(`invalid group reference ${group}`);
    if (this.open.some((g) => g.number === group)) this.fail("cannot refer to an open group");
    this.emit(`(?:\\${group})`, "atom");
  }

  // --- character classes -------------------------------------------------------------------------

  /** A class; pos is just after "[". */
  private readClass(): string {
    let negate = false;
    if (this.peek() === "^") {
      negate = true;
      this.pos++;
    }
    let body = "";
    let first = true;
    for (;;) {
      const c = this.cps[this.pos] ?? this.fail("unterminated character set");
      if (c === "]" && !first) {
        this.pos++;
        break;
      }
      first = false;
      this.pos++;
      body += this.readClassItem(c);
    }
    return `[${negate ? "^" : ""}${body}]`;
  }

  private rangeFollows(): boolean {
    return this.peek() === "-" && this.peek(1) !== "]" && this.peek(1) !== undefined;
  }

  /** One class item (a code point, a range or a category); c has been consumed. */
  private readClassItem(c: string): string {
    let lo: number | undefined;
    if (c === "\\") {
      const e2 = this.cps[this.pos++] ?? this.fail("bad escape (end of pattern)");
      const lit = this.literalEscape(e2);
      if (lit !== undefined) lo = lit;
      else if (e2 === "b") lo = 8;
      else if (e2 in this.classes.categories) {
        if (this.rangeFollows()) this.fail(`bad character range \\${e2}-`);
        return this.classes.categories[e2] ?? "";
      } else if (/^[0-7]$/.test(e2)) lo = this.octal(e2, 3);
      else if (/^[A-Za-z0-9]$/.test(e2)) this.fail(`bad escape \\${e2}`);
      else lo = e2.codePointAt(0);
    } else {
      lo = c.codePointAt(0);
    }
    const from = lo ?? 0;
    if (!this.rangeFollows()) return literal(from);
    this.pos++;
    const end = this.readRangeEnd(from);
    if (end < from) this.fail("bad character range");
    return `${literal(from)}-${literal(end)}`;
  }

  /** The upper end of a range; pos is just after the "-". */
  private readRangeEnd(from: number): number {
    const h = this.cps[this.pos++] ?? "";
    if (h !== "\\") return h.codePointAt(0) ?? 0;
    const e = this.cps[this.pos++] ?? "";
    const lit = this.literalEscape(e);
    if (lit !== undefined) return lit;
    if (e === "b") return 8;
    if (/^[0-7]$/.test(e)) return this.octal(e, 3);
    if (/^[A-Za-z0-9]$/.test(e) || e === "")
      this.fail(`bad character range ${String.fromCodePoint(from)}-\\${e}`);
    return e.codePointAt(0) ?? 0;
  }

  // --- quantifiers -------------------------------------------------------------------------------

  /** Tries to read a Python {m,n} quantifier at pos (just after "{"); undefined: "{" is a literal. */
  private readBraces(): string | undefined {
    const start = this.pos;
    if (this.peek() === "}") return undefined;
    const lo = this.readDigits();
    let hi = lo;
    const comma = this.peek() === ",";
    if (comma) {
      this.pos++;
      hi = this.readDigits();
    }
    if (this.peek() !== "}") {
      this.pos = start;
      return undefined;
    }
    this.pos++;
    const min = lo === "" ? 0 : Number(lo);
    if (hi !== "" && Number(hi) < min) this.fail("min repeat greater than max repeat");
    if (!comma) return `{${min}}`;
    return hi === "" ? `{${min},}` : `{${min},${hi}}`;
  }

  private readDigits(): string {
    let digits = "";
    while (/^[0-9]$/.test(this.peek() ?? "")) digits += this.cps[this.pos++] ?? "";
    return digits;
  }

  private quantify(q: string): void {
    if (this.last === "quantifier") this.fail("multiple repeat");
    if (this.last !== "atom") this.fail("nothing to repeat");
    let suffix = "";
    if (this.peek() === "?") {
      suffix = "?";
      this.pos++;
    } else if (this.peek() === "+") {
      this.fail("possessive quantifiers are not supported");
    }
    this.emit(q + suffix, "quantifier");
  }

  // --- groups and lookarounds --------------------------------------------------------------------

  private openGroup(capturing: boolean, lookaround: boolean, text: string): void {
    if (capturing) this.groups++;
    this.open.push({ number: capturing ? this.groups : undefined, lookaround });
    this.emit(text, "none");
  }

  /** A group; pos is just after "(". */
  private readGroup(): void {
    if (this.peek() !== "?") {
      this.openGroup(true, false, "(");
      return;
    }
    this.pos++;
    const rest = this.cps.slice(this.pos, this.pos + 3).join("");
    // A comment changes nothing, not even what a quantifier applies to.
    if (rest.startsWith("#")) this.skipComment();
    else if (rest.startsWith(":")) {
      this.pos++;
      this.openGroup(false, false, "(?:");
    } else if (rest.startsWith("=") || rest.startsWith("!")) {
      // Lookarounds are wrapped in (?:...) because Python lets a lookaround be quantified and
      // JavaScript does not (a quantified zero-width group means the same in both).
      this.pos++;
      this.openGroup(false, true, `(?:(?${rest[0] ?? ""}`);
    } else if (rest.startsWith("<=") || rest.startsWith("<!")) {
      this.pos += 2;
      this.openGroup(false, true, `(?:(?${rest.slice(0, 2)}`);
    } else if (rest.startsWith("P<")) this.readNamedGroup();
    else if (rest.startsWith("P=")) this.readNamedReference();
    else this.rejectExtension(rest);
  }

  /** (?P<name>...); pos is at the "P". */
  private readNamedGroup(): void {
    this.pos += 2;
    const close = this.cps.indexOf(">", this.pos);
    if (close < 0) this.fail("missing >, unterminated name");
    const name = this.cps.slice(this.pos, close).join("");
    if (!GROUP_NAME.test(name)) this.fail(`bad character in group name '${name}'`);
    if (this.names.has(name)) this.fail(`redefinition of group name '${name}'`);
    this.names.add(name);
    this.pos = close + 1;
    this.openGroup(true, false, `(?<${name}>`);
  }

  /** (?P=name); pos is at the "P". */
  private readNamedReference(): void {
    this.pos += 2;
    const close = this.cps.indexOf(")", this.pos);
    if (close < 0) this.fail("missing ), unterminated name");
    const name = this.cps.slice(this.pos, close).join("");
    if (!this.names.has(name)) this.fail(`unknown group name '${name}'`);
    this.pos = close + 1;
    this.emit(`\\k<${name}>`, "atom");
  }

  /** Extensions Python has and this translation does not, or ones Python does not have. */
  private rejectExtension(rest: string): never {
    if (/^[aiLmsux-]/.test(rest)) {
      const m = /^[aiLmsux]*(-[imsx]*)?([:)])/.exec(this.cps.slice(this.pos, this.pos + 12).join(""));
      if (m?.[2] === ")") this.fail("global flags not at the start of the expression");
      this.fail("scoped inline flags (?flags:...) are not supported");
    }
    if (rest.startsWith("(")) this.fail("conditional groups (?(...)...) are not supported");
    if (rest.startsWith(">")) this.fail("atomic groups (?>...) are not supported");
    return this.fail(`unknown extension ?${rest.slice(0, 1)}`);
  }

  private closeGroup(): void {
    const group = this.open.pop();
    if (group === undefined) this.fail("unbalanced parenthesis");
    this.emit(group.lookaround ? "))" : ")", "atom");
  }
}
