import { performance } from "node:perf_hooks";
import type { Logger } from "../observability/logger.js";

/** A debug line per start-up step, timed from the process start: where a restart's seconds go. */
export function startupStep(logger: Logger, step: string): void {
  logger.debug({ step, since_start_ms: Math.round(performance.now()) }, "follow start-up");
}
