import { describe, expect, it } from "vitest";
import {
  compilePythonRegex,
  pyCompareStrings,
  pyFloat,
  pyStr,
  PythonRegexError,
} from "../../src/rules/python.js";
import { PY_MATCHES, PY_STRINGS } from "./python-re-golden.js";

describe("Python behaviour the basic rules rely on", () => {
  it("str() of JSON values (expected values printed by CPython)", () => {
    expect(pyStr("plain")).toBe("plain");
    expect(pyStr(true)).toBe("True");
    expect(pyStr(null)).toBe("None");
    expect(pyStr(12)).toBe("12");
    expect(pyStr([1, "a", true, null, 1.5, "it's", "a\"b'c", "\n"])).toBe(
      `[1, 'a', True, None, 1.5, "it's", 'a"b\\'c', '\\n']`,
    );
    expect(pyStr({ a: { b: [] } })).toBe("{'a': {'b': []}}");
    expect([1e16, 1.5e-5, 0.0001, 2 ** 53, -0, 123456789.125].map(pyStr)).toEqual([
      "1e+16",
      "1.5e-05",
      "0.0001",
      "9007199254740992.0",
      "-0.0",
      "123456789.125",
    ]);
  });

  it("float() of rule values (expected values printed by CPython)", () => {
    expect(pyFloat(" 12 ")).toBe(12);
    expect(pyFloat("1_000")).toBe(1000);
    expect(pyFloat("+.5e-3")).toBe(0.0005);
    expect(pyFloat("-InFiNiTy")).toBe(-Infinity);
    expect(pyFloat("nan ")).toBeNaN();
    expect(pyFloat("\u00a012\u2003")).toBe(12);
    for (const bad of ["0x10", "1,5", "", "1__0", "_1", "1e", "1_", ".", "e5", "\ufeff1"]) {
      expect(pyFloat(bad), bad).toBeUndefined();
    }
  });

  it("str comparison is by code point", () => {
    expect(pyCompareStrings("a", "b")).toBeLessThan(0);
    expect(pyCompareStrings("ab", "a")).toBeGreaterThan(0);
    expect(pyCompareStrings("\uffff", "😀")).toBeLessThan(0); // UTF-16 order says the opposite
    expect(pyCompareStrings("😀", "😁")).toBeLessThan(0);
    expect(pyCompareStrings("é", "é")).toBe(0);
  });

  // Python 3.11 accepts these; the translation refuses them rather than guess.
  const UNSUPPORTED = new Set(["(?i:a)", "a*+", "\\N{DIGIT ONE}"]);

  it.each(PY_MATCHES)("re.match(%j, s) for every test string, as CPython", (pattern, expected) => {
    if (expected === null || UNSUPPORTED.has(pattern)) {
      expect(() => compilePythonRegex(pattern)).toThrow(PythonRegexError);
      return;
    }
    const match = compilePythonRegex(pattern);
    expect(PY_STRINGS.map((s) => (match(s) ? "1" : "0")).join("")).toBe(expected);
  });
});
