export * from "./app-config.js";
export * from "./connector-fields.js";
export * from "./postgres-config.js";
