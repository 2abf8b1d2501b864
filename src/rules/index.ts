export * from "./advanced.js";
export * from "./basic.js";
export { compilePythonRegex, PythonRegexError } from "./python.js";
// The sync engine's all-or-nothing adapter; its function is re-exported under another name
// because basic.ts owns `pushDownBasicRules`.
export {
  columnKind,
  pushDownBasicRules as pushDownFilter,
  type PushdownColumn,
  type PushedFilter,
} from "./pushdown.js";
