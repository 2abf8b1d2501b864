// Issue 13's limits: no function over 80 lines, no file over 400 (blank lines and comments not counted).
import ts from "typescript";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const MAX_FUNCTION = 80;
const MAX_FILE = 400;
const root = process.argv[2] ?? "src";

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (path.endsWith(".ts")) yield path;
  }
}

/** Lines of [start, end) that hold code: not blank, not only a comment. */
function codeLines(text, start, end) {
  const scanner = ts.createScanner(
    ts.ScriptTarget.Latest,
    false,
    ts.LanguageVariant.Standard,
    text.slice(start, end),
  );
  const lines = new Set();
  const lineStarts = ts.computeLineStarts(text.slice(start, end));
  const lineOf = (pos) => {
    let lo = 0,
      hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  for (let kind = scanner.scan(); kind !== ts.SyntaxKind.EndOfFileToken; kind = scanner.scan()) {
    if (kind === ts.SyntaxKind.WhitespaceTrivia || kind === ts.SyntaxKind.NewLineTrivia) continue;
    if (kind === ts.SyntaxKind.SingleLineCommentTrivia || kind === ts.SyntaxKind.MultiLineCommentTrivia)
      continue;
    const first = lineOf(scanner.getTokenStart());
    const last = lineOf(scanner.getTokenEnd() - 1);
    for (let l = first; l <= last; l++) lines.add(l);
  }
  return lines.size;
}

const problems = [];
for (const path of files(root)) {
  const text = readFileSync(path, "utf8");
  const fileLines = codeLines(text, 0, text.length);
  if (fileLines > MAX_FILE) problems.push(`${path}: ${fileLines} lines (limit ${MAX_FILE})`);
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const visit = (node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const n = codeLines(text, node.getStart(source), node.end);
      if (n > MAX_FUNCTION) {
        const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
        const name = node.name?.getText(source) ?? "(anonymous)";
        problems.push(`${path}:${line + 1} ${name}: ${n} lines (limit ${MAX_FUNCTION})`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
}
for (const p of problems) console.log(p);
console.log(problems.length === 0 ? "size-check: ok" : `size-check: ${problems.length} over the limits`);
process.exit(problems.length === 0 ? 0 : 1);
