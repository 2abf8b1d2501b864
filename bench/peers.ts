/** Peers run on the bench's data into their own index: `pgsync`, `elastic=PATH`. */
import type { Client } from "@elastic/elasticsearch";
import type { Dataset } from "./datasets.js";
import type { IndexSize } from "./index-size.js";
import type { PhaseResult } from "./measure.js";

export interface PeerContext {
  data: Dataset;
  esUrl: string;
  es: Client;
  rep: number;
}

export async function runPeer(
  spec: string,
  ctx: PeerContext,
): Promise<{ result: PhaseResult; size?: IndexSize }> {
  const [name, path] = spec.split("=", 2);
  switch (name) {
    case "pgsync":
      return (await import("./peer-pgsync.js")).runPgsync(ctx);
    case "elastic":
      if (path === undefined)
        throw new Error("--peer elastic=PATH: PATH is a checkout of elastic/connectors");
      return (await import("./peer-elastic.js")).runElastic(ctx, path);
    default:
      throw new Error(`unknown peer "${spec}" (pgsync, elastic=PATH)`);
  }
}
