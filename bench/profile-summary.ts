/**
 * `tsx bench/profile-summary.ts FILE.cpuprofile [--top 25]`: the functions with the most self
 * time in a V8 CPU profile (`node --cpu-prof`), grouped by function and file, and the share of
 * the whole. Time per sample is taken from the profile's own time deltas.
 */
import { readFile } from "node:fs/promises";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  ms: number;
  share: number;
}

function label(frame: ProfileNode["callFrame"]): string {
  const fn = frame.functionName === "" ? "(anonymous)" : frame.functionName;
  if (frame.url === "") return fn;
  const path = frame.url.startsWith("file:") ? relative(process.cwd(), fileURLToPath(frame.url)) : frame.url;
  return `${fn} ${path.replace(/^.*node_modules\//, "~/")}:${frame.lineNumber + 1}`;
}

export function selfTimes(profile: CpuProfile): { totalMs: number; top: SelfTime[] } {
  const byNode = new Map(profile.nodes.map((n) => [n.id, label(n.callFrame)]));
  const ms = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const delta = (profile.timeDeltas[i] ?? 0) / 1000;
    const name = byNode.get(id) ?? "?";
    ms.set(name, (ms.get(name) ?? 0) + delta);
    total += delta;
  });
  const top = [...ms.entries()]
    .map(([name, t]) => ({ name, ms: Math.round(t), share: Math.round((t / total) * 1000) / 10 }))
    .sort((a, b) => b.ms - a.ms);
  return { totalMs: Math.round(total), top };
}

export async function printSummary(file: string, count: number): Promise<void> {
  const { totalMs, top } = selfTimes(JSON.parse(await readFile(file, "utf8")) as CpuProfile);
  const busy = top.filter((t) => t.name !== "(idle)").reduce((n, t) => n + t.ms, 0);
  process.stdout.write(`\n${file}: ${totalMs} ms sampled, ${busy} ms not idle\n`);
  process.stdout.write("| self ms | % | function |\n|--:|--:|---|\n");
  for (const t of top.slice(0, count)) process.stdout.write(`| ${t.ms} | ${t.share} | ${t.name} |\n`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({
    options: { top: { type: "string", default: "25" } },
    allowPositionals: true,
  });
  for (const file of positionals) await printSummary(file, Number(values.top));
}
