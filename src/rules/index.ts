export * from "./advanced.js";
export * from "./basic.js";
export * from "./pushdown.js";
