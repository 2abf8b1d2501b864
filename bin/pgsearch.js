#!/usr/bin/env node
// Runs the compiled CLI (npm run build); during development use `npx tsx src/cli/main.ts`.
import "../dist/cli/main.js";
