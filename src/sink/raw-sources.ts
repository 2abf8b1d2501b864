/**
 * Reads `_id` and the raw `_source` text of each document of an `_mget` response without parsing
 * the sources: Elasticsearch returns a source as the bytes it was sent, and comparing those bytes
 * is exact where JSON.parse is not (numbers beyond a double's precision).
 */
export function rawSources(body: string): Map<string, string> {
  const found = new Map<string, string>();
  const docsKey = body.indexOf('"docs"');
  if (docsKey < 0) return found;
  let i = body.indexOf("[", docsKey) + 1;
  for (;;) {
    i = skipSpace(body, i);
    if (body[i] !== "{") return found; // "]": end of the array
    const doc = readObject(body, i);
    const id = doc.get("_id");
    const source = doc.get("_source");
    if (id !== undefined && source !== undefined) found.set(JSON.parse(id) as string, source);
    i = skipSpace(body, doc.end);
    if (body[i] === ",") i++;
  }
}

/** Top-level members of the object at `start`, as raw value texts, and the index after it. */
function readObject(text: string, start: number): Map<string, string> & { end: number } {
  const members = new Map<string, string>() as Map<string, string> & { end: number };
  let i = start + 1;
  for (;;) {
    i = skipSpace(text, i);
    if (text[i] === "}") {
      members.end = i + 1;
      return members;
    }
    const keyEnd = skipValue(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipSpace(text, keyEnd) + 1; // the colon
    i = skipSpace(text, i);
    const valueEnd = skipValue(text, i);
    members.set(key, text.slice(i, valueEnd));
    i = skipSpace(text, valueEnd);
    if (text[i] === ",") i++;
  }
}

/** The index just after the JSON value starting at `start` (strings, objects, arrays, scalars). */
function skipValue(text: string, start: number): number {
  let depth = 0;
  let i = start;
  do {
    const c = text[i];
    if (c === '"') {
      i++;
      while (text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
    else if (depth === 0) {
      // A scalar: runs to the next delimiter.
      while (i < text.length && !",}] \n\r\t".includes(text[i] ?? ",")) i++;
      return i;
    }
    i++;
  } while (depth > 0 && i < text.length);
  return i;
}

function skipSpace(text: string, start: number): number {
  let i = start;
  while (text[i] === " " || text[i] === "\n" || text[i] === "\r" || text[i] === "\t") i++;
  return i;
}
