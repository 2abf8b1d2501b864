import { setFlagsFromString } from "node:v8";

/**
 * Old-space growth after each full GC, in percent of what survived it. V8's default (a factor
 * chosen from GC and allocation speed, up to 4× for a small heap) let a narrow full sync's old
 * space reach ~60 MB of mostly garbage above ~21 MB live; 1.5× keeps the peak near what is
 * really in use. What survives a sync's young-generation GCs is little (the bulk writer encodes
 * documents into reused buffers), so the extra full GCs cost little CPU (docs/benchmarks.md,
 * "Memory").
 */
export const HEAP_GROWING_PERCENT = 50;

/**
 * Flags the installed commands start Node with (bin/pgsearch.js and bin/elastic-ingest through
 * their `#!/usr/bin/env -S node ...` line, the image's ENTRYPOINT, the bench's phases). The young
 * generation's size can only be set on Node's command line, not at run time: Node 24's V8 lets
 * it grow far past Node 20's 16 MB semi-spaces, which took a 200k-row full sync's peak RSS from
 * 148 to 275 MB at no CPU gain; 16 MB semi-spaces bring it back to 171 MB (docs/benchmarks.md,
 * "Node 24"). test/cli/conventions.test.ts keeps the three places in step with this list.
 */
export const NODE_FLAGS = ["--max-semi-space-size=16"] as const;

/**
 * Applies HEAP_GROWING_PERCENT unless the command line chose a value (`node
 * --heap-growing-percent=0 bin/pgsearch.js` restores V8's own heuristics; NODE_OPTIONS does not
 * take this flag). V8 reads it at every full GC, so setting it at start-up takes effect.
 */
export function tuneHeap(execArgv: readonly string[] = process.execArgv): void {
  if (!execArgv.some((arg) => /^--heap[-_]growing[-_]percent/.test(arg)))
    setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
