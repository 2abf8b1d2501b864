export * from "./advanced.js";
export * from "./basic.js";
