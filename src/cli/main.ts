#!/usr/bin/env node
import { CommanderError } from "@commander-js/extra-typings";
import { EXIT } from "./exit-codes.js";
import { tuneHeap } from "./heap.js";
import { buildProgram } from "./program.js";

tuneHeap();
try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  if (!(error instanceof CommanderError)) throw error;
  // --help and --version end with 0; an unknown option, a missing argument: a usage error.
  process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.invalidConfig;
}
