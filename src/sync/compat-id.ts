/**
 * Elastic's connector builds `_id` from `str(value)` of each primary-key value as asyncpg decodes
 * it. For most key types that is PostgreSQL's text output (int, text, uuid, date); for the types
 * below Python prints differently, and an existing index only keeps working after a switch if we
 * print the same. Keys arrive as PostgreSQL text in a session with TimeZone UTC.
 */
export function pythonKeyText(typeName: string, text: string): string {
  switch (typeName) {
    case "bool":
      // bool::text is "true"/"false" (the wire format's "t"/"f" is accepted too)
      return text === "true" || text === "t" ? "True" : text === "false" || text === "f" ? "False" : text;
    case "timestamptz":
      // 2024-01-01 12:00:00.5+00 → 2024-01-01 12:00:00.500000+00:00 (asyncpg gives UTC datetimes)
      return withUtcOffset(withMicroseconds(text.replace(/\+00$/, "")), text.endsWith("+00"));
    case "timestamp":
    case "time":
      return withMicroseconds(text);
    case "timetz": {
      const match = /^(.*?)([+-]\d\d)(?::(\d\d))?(?::(\d\d))?$/.exec(text);
      if (match === null) return text;
      const [, clock = "", hours = "", minutes = "00", seconds] = match;
      return `${withMicroseconds(clock)}${hours}:${minutes}${seconds === undefined ? "" : `:${seconds}`}`;
    }
    case "numeric":
      return decimalText(text);
    case "float4":
      // Python's float() of a real is the real widened to double: 1.1 → 1.100000023841858
      return floatText(text, true);
    case "float8":
      return floatText(text, false);
    case "bit":
    case "varbit":
      return `<BitString ${text}>`; // str() of asyncpg's BitString is its repr
    case "bytea":
      return bytesRepr(text);
    default:
      return text;
  }
}

/** datetime/time `str()` prints six fraction digits, or none when the microseconds are zero. */
function withMicroseconds(text: string): string {
  const match = /^(.*\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?$/.exec(text);
  if (match === null) return text; // infinity, BC dates: asyncpg's own forms; left as PostgreSQL prints them
  const [, whole = "", fraction] = match;
  return fraction === undefined ? whole : `${whole}.${fraction.padEnd(6, "0")}`;
}

function withUtcOffset(text: string, utc: boolean): string {
  return utc ? `${text}+00:00` : text;
}

/**
 * `str(Decimal(text))`: PostgreSQL never prints an exponent, so the Decimal's exponent is minus
 * the number of fraction digits; Python switches to scientific notation when the adjusted
 * exponent is below -6 (0.0000001 → 1E-7).
 */
function decimalText(text: string): string {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (match === null) return text; // NaN, Infinity, -Infinity print the same in both
  const [, sign = "", whole = "", fraction = ""] = match;
  const exponent = -fraction.length;
  const coefficient = (whole + fraction).replace(/^0+(?=\d)/, "");
  const adjusted = exponent + coefficient.length - 1;
  if (adjusted >= -6) return text;
  const rest = coefficient.slice(1);
  return `${sign}${coefficient[0] ?? "0"}${rest === "" ? "" : `.${rest}`}E${String(adjusted)}`;
}

/** `str(float)`: repr, which keeps ".0" on integral values and uses e+XX past 1e16. */
function floatText(text: string, single: boolean): string {
  if (text === "NaN") return "nan";
  if (text === "Infinity") return "inf";
  if (text === "-Infinity") return "-inf";
  const value = single ? Math.fround(Number(text)) : Number(text);
  if (!Number.isFinite(value)) return text;
  if (Object.is(value, -0)) return "-0.0";
  const abs = Math.abs(value);
  if (abs >= 1e16 || (abs < 1e-4 && abs !== 0)) {
    const [mantissa = "", exp = "0"] = value.toExponential().split("e");
    const e = Number(exp);
    return `${mantissa}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  const plain = String(value);
  return plain.includes(".") || plain.includes("e") ? plain : `${plain}.0`;
}

/** `str(bytes)` is its repr: b'...' with printable ASCII as is and \\xhh escapes for the rest. */
function bytesRepr(text: string): string {
  if (!text.startsWith("\\x")) return text;
  const bytes = Buffer.from(text.slice(2), "hex");
  const quote = bytes.includes(0x27) && !bytes.includes(0x22) ? '"' : "'";
  let out = "";
  for (const byte of bytes) {
    if (byte === 0x5c) out += "\\\\";
    else if (byte === quote.charCodeAt(0)) out += `\\${quote}`;
    else if (byte === 0x09) out += "\\t";
    else if (byte === 0x0a) out += "\\n";
    else if (byte === 0x0d) out += "\\r";
    else if (byte < 0x20 || byte >= 0x7f) out += `\\x${byte.toString(16).padStart(2, "0")}`;
    else out += String.fromCharCode(byte);
  }
  return `b${quote}${out}${quote}`;
}
