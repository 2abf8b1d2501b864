#!/usr/bin/env -S node --max-semi-space-size=16
// Runs the compiled CLI (npm run build); during development use `npx tsx src/cli/main.ts`.
import "../dist/cli/main.js";
